using System.Text.Json;
using Kldload.Facts.Canonical;

namespace Kldload.Facts;

/// <summary>A facts object kldload refuses: too large, too long a list or string, or no canonical form.</summary>
public sealed class FactsRefusedException(string message) : Exception(message);

/// <summary>
/// What kldload accepts as a node's facts: a JSON object whose canonical form is at most
/// <see cref="MaxCanonicalBytes"/>, with lists of at most <see cref="MaxListLength"/> items and
/// strings of at most <see cref="MaxStringLength"/> characters. The LAN is hostile: a node says
/// what it likes, so kldload bounds what it stores before it stores it.
/// </summary>
public static class FactsLimits
{
    /// <summary>Largest canonical facts (64 KiB; a large server's facts are a few KiB).</summary>
    public const int MaxCanonicalBytes = 64 * 1024;

    /// <summary>Most items in any one list (disks, NICs, PCI devices, DIMMs, flags).</summary>
    public const int MaxListLength = 256;

    /// <summary>Longest string value or member name.</summary>
    public const int MaxStringLength = 1024;

    /// <summary>Checks the bounds and returns the canonical bytes; throws <see cref="FactsRefusedException"/> naming the problem.</summary>
    public static byte[] CheckAndCanonicalize(JsonElement facts)
    {
        if (facts.ValueKind != JsonValueKind.Object)
        {
            throw new FactsRefusedException($"facts must be a JSON object, not {facts.ValueKind}");
        }

        Walk(facts, "facts");
        byte[] canonical;
        try
        {
            canonical = JsonCanonicalizer.Canonicalize(facts);
        }
        catch (JsonCanonicalizationException e)
        {
            throw new FactsRefusedException("facts have no RFC 8785 canonical form: " + e.Message);
        }

        if (canonical.Length > MaxCanonicalBytes)
        {
            throw new FactsRefusedException($"facts are {canonical.Length} bytes in canonical form; at most {MaxCanonicalBytes} are accepted");
        }

        return canonical;
    }

    private static void Walk(JsonElement value, string path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var member in value.EnumerateObject())
                {
                    if (member.Name.Length > MaxStringLength)
                    {
                        throw new FactsRefusedException($"a member name under {path} is longer than {MaxStringLength} characters");
                    }

                    Walk(member.Value, path + "." + member.Name);
                }

                break;
            case JsonValueKind.Array:
                var count = value.GetArrayLength();
                if (count > MaxListLength)
                {
                    throw new FactsRefusedException($"{path} has {count} items; at most {MaxListLength} are accepted");
                }

                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    Walk(item, $"{path}[{i++}]");
                }

                break;
            case JsonValueKind.String:
                string? text;
                try
                {
                    text = value.GetString();
                }
                catch (InvalidOperationException)
                {
                    throw new FactsRefusedException($"{path} is not valid Unicode (lone surrogate)");
                }

                if ((text?.Length ?? 0) > MaxStringLength)
                {
                    throw new FactsRefusedException($"{path} is longer than {MaxStringLength} characters");
                }

                break;
        }
    }
}
