using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Kldload.Facts.Canonical;

/// <summary>A JSON text that has no RFC 8785 canonical form (duplicate names, numbers out of range, broken strings, too deep).</summary>
public sealed class JsonCanonicalizationException(string message) : Exception(message);

/// <summary>
/// RFC 8785 (JSON Canonicalization Scheme): the one byte sequence a JSON value has, so two parties
/// hash the same thing. No whitespace; object members sorted by their names as arrays of UTF-16
/// code units (section 3.2.3); numbers as ECMAScript's Number.prototype.toString writes an IEEE 754
/// double (section 3.2.2.3); strings with only the escapes ECMAScript's JSON.stringify uses
/// (section 3.2.2.2); literals as written. I-JSON (RFC 7493) rules apply: duplicate member names,
/// numbers that are not finite doubles and lone surrogates are refused.
/// Reads through <see cref="JsonDocument"/> only: no reflection, safe for NativeAOT.
/// </summary>
public static class JsonCanonicalizer
{
    /// <summary>Deepest nesting accepted (objects and arrays).</summary>
    public const int MaxDepth = 32;

    /// <summary>The canonical UTF-8 bytes of a JSON text.</summary>
    public static byte[] Canonicalize(ReadOnlySpan<byte> utf8Json)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = MaxDepth + 1 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new JsonCanonicalizationException("not JSON: " + e.Message);
        }

        using (document)
        {
            return Canonicalize(document.RootElement);
        }
    }

    /// <summary>The canonical UTF-8 bytes of a parsed JSON value.</summary>
    public static byte[] Canonicalize(JsonElement value)
    {
        var text = new StringBuilder();
        Write(value, text, 0);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static void Write(JsonElement value, StringBuilder text, int depth)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(value, text, depth + 1);
                break;
            case JsonValueKind.Array:
                if (depth + 1 > MaxDepth)
                {
                    throw new JsonCanonicalizationException($"nested deeper than {MaxDepth} levels");
                }

                text.Append('[');
                var first = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!first)
                    {
                        text.Append(',');
                    }

                    first = false;
                    Write(item, text, depth + 1);
                }

                text.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(ReadString(value), text);
                break;
            case JsonValueKind.Number:
                if (!value.TryGetDouble(out var number) || !double.IsFinite(number))
                {
                    throw new JsonCanonicalizationException($"the number {value.GetRawText()} is not a finite IEEE 754 double");
                }

                text.Append(FormatNumber(number));
                break;
            case JsonValueKind.True:
                text.Append("true");
                break;
            case JsonValueKind.False:
                text.Append("false");
                break;
            case JsonValueKind.Null:
                text.Append("null");
                break;
            default:
                throw new JsonCanonicalizationException($"unexpected JSON value kind {value.ValueKind}");
        }
    }

    private static void WriteObject(JsonElement value, StringBuilder text, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new JsonCanonicalizationException($"nested deeper than {MaxDepth} levels");
        }

        var members = new List<(string Name, JsonElement Value)>();
        foreach (var member in value.EnumerateObject())
        {
            string name;
            try
            {
                name = member.Name;
            }
            catch (InvalidOperationException)
            {
                throw new JsonCanonicalizationException("a member name is not valid Unicode (lone surrogate)");
            }

            members.Add((name, member.Value));
        }

        // Section 3.2.3: sorted by UTF-16 code units, which is what ordinal comparison of .NET strings does.
        members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        text.Append('{');
        for (var i = 0; i < members.Count; i++)
        {
            if (i > 0)
            {
                if (string.Equals(members[i - 1].Name, members[i].Name, StringComparison.Ordinal))
                {
                    throw new JsonCanonicalizationException($"duplicate member name \"{members[i].Name}\"");
                }

                text.Append(',');
            }

            WriteString(members[i].Name, text);
            text.Append(':');
            Write(members[i].Value, text, depth);
        }

        text.Append('}');
    }

    private static string ReadString(JsonElement value)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new JsonCanonicalizationException("a string is not valid Unicode (lone surrogate)");
        }
    }

    /// <summary>Section 3.2.2.2: the escapes JSON.stringify writes, everything else as itself.</summary>
    internal static void WriteString(string value, StringBuilder text)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    text.Append("\\\"");
                    break;
                case '\\':
                    text.Append("\\\\");
                    break;
                case '\b':
                    text.Append("\\b");
                    break;
                case '\f':
                    text.Append("\\f");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '\r':
                    text.Append("\\r");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        text.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        text.Append('"');
    }

    /// <summary>
    /// Section 3.2.2.3: ECMAScript's Number::toString (ECMA-262 section 6.1.6.1.20) of a finite double.
    /// The digits are .NET's shortest round-trip digits ("R"); only their placement follows ECMAScript.
    /// </summary>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new JsonCanonicalizationException("NaN and Infinity have no JSON form");
        }

        if (value == 0)
        {
            return "0"; // also -0
        }

        var r = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        if (negative)
        {
            r = r[1..];
        }

        var exponentAt = r.IndexOfAny(['E', 'e']);
        var exponent = exponentAt < 0 ? 0 : int.Parse(r.AsSpan(exponentAt + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = exponentAt < 0 ? r : r[..exponentAt];
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var integerDigits = point < 0 ? mantissa.Length : point;
        var digits = mantissa.Replace(".", string.Empty, StringComparison.Ordinal);
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');

        // value = 0.d1 d2 ... dk x 10^n in ECMAScript's terms.
        var k = digits.Length;
        var n = integerDigits + exponent - leadingZeros;
        var s = new StringBuilder(32);
        if (negative)
        {
            s.Append('-');
        }

        if (k <= n && n <= 21)
        {
            s.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            s.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            s.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            var e = n - 1;
            s.Append(digits[0]);
            if (k > 1)
            {
                s.Append('.').Append(digits, 1, k - 1);
            }

            s.Append('e').Append(e >= 0 ? '+' : '-').Append(Math.Abs(e).ToString(CultureInfo.InvariantCulture));
        }

        return s.ToString();
    }
}
