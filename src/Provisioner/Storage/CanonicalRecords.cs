using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// A canonical text of a stored record and a digest over many, for <c>kldload db migrate</c> to show that
/// what one provider returns equals what the other returns. Properties are written in ordinal name order,
/// dictionaries in key order, times as UTC ticks (each provider hands times back in its own kind and
/// offset), bytes as hex; the records are digested in the order of their keys, so neither provider's
/// row order counts.
/// </summary>
public static class CanonicalRecords
{
    private const int MaxDepth = 8;

    /// <summary>The canonical text of one record.</summary>
    public static string Text(object? record)
    {
        var text = new StringBuilder();
        Write(text, record, 0);
        return text.ToString();
    }

    /// <summary>SHA-256 (lower-case hex) over the canonical texts, one per line, in the ordinal order of <paramref name="key"/>.</summary>
    public static string Digest<T>(IEnumerable<T> records, Func<T, string> key)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(key);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var record in records.OrderBy(key, StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Text(record)));
            sha.AppendData("\n"u8);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void Write(StringBuilder text, object? value, int depth)
    {
        switch (value)
        {
            case null:
                text.Append("null");
                return;
            case string s:
                text.Append('"').Append(s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                return;
            case bool b:
                text.Append(b ? "true" : "false");
                return;
            case Enum e:
                text.Append(e.ToString());
                return;
            case DateTime t:
                text.Append((t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : t).Ticks.ToString(CultureInfo.InvariantCulture)).Append('Z');
                return;
            case DateTimeOffset o:
                text.Append(o.UtcTicks.ToString(CultureInfo.InvariantCulture)).Append('Z');
                return;
            case byte[] bytes:
                text.Append("0x").Append(Convert.ToHexStringLower(bytes));
                return;
            case IFormattable f when value.GetType().IsPrimitive || value is decimal:
                text.Append(f.ToString(null, CultureInfo.InvariantCulture));
                return;
            case IDictionary map:
                var entries = new List<(string Key, object? Value)>();
                foreach (DictionaryEntry entry in map)
                {
                    entries.Add((Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty, entry.Value));
                }

                text.Append('{');
                foreach (var (key, item) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
                {
                    text.Append(key).Append(':');
                    Write(text, item, depth + 1);
                    text.Append(',');
                }

                text.Append('}');
                return;
            case IEnumerable items:
                text.Append('[');
                foreach (var item in items)
                {
                    Write(text, item, depth + 1);
                    text.Append(',');
                }

                text.Append(']');
                return;
        }

        var type = value.GetType();
        if (depth >= MaxDepth || type.IsValueType || type.Namespace?.StartsWith("Kldload", StringComparison.Ordinal) != true)
        {
            // IP addresses, digests, image keys: their own text is their value.
            text.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
            return;
        }

        text.Append(type.Name).Append('{');
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                     .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
                     .OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            text.Append(property.Name).Append('=');
            Write(text, property.GetValue(value), depth + 1);
            text.Append(',');
        }

        text.Append('}');
    }
}
