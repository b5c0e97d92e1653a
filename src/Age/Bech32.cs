namespace Kldload.Age;

/// <summary>
/// Bech32 (BIP 173) as age uses it for keys: a human-readable part, the separator <c>1</c>, the data in
/// 5-bit groups from the 32-character alphabet, and a six-character BCH checksum (constant 1). age
/// does not apply BIP 173's 90-character limit, and writes secret keys in upper case.
/// </summary>
internal static class Bech32
{
    private const string Alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    private static readonly uint[] s_generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

    /// <summary>Encodes <paramref name="data"/> under <paramref name="hrp"/> (lower case).</summary>
    public static string Encode(string hrp, ReadOnlySpan<byte> data)
    {
        var values = ToFiveBit(data);
        var checksum = Checksum(hrp, values);
        var chars = new char[hrp.Length + 1 + values.Count + 6];
        hrp.CopyTo(0, chars, 0, hrp.Length);
        chars[hrp.Length] = '1';
        var i = hrp.Length + 1;
        foreach (var v in values.Concat(checksum))
        {
            chars[i++] = Alphabet[v];
        }

        return new string(chars);
    }

    /// <summary>Decodes a Bech32 string (all lower or all upper case); false on any error.</summary>
    public static bool TryDecode(string text, out string hrp, out byte[] data)
    {
        hrp = string.Empty;
        data = [];
        if (text.Length < 8 || (text.Any(char.IsUpper) && text.Any(char.IsLower)))
        {
            return false;
        }

        var lower = text.ToLowerInvariant();
        var separator = lower.LastIndexOf('1');
        if (separator < 1 || separator + 7 > lower.Length || lower.Any(c => c < 33 || c > 126))
        {
            return false;
        }

        var values = new List<byte>(lower.Length - separator - 1);
        foreach (var c in lower.AsSpan(separator + 1))
        {
            var v = Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (v < 0)
            {
                return false;
            }

            values.Add((byte)v);
        }

        var h = lower[..separator];
        if (Polymod(Expand(h).Concat(values)) != 1)
        {
            return false;
        }

        if (!TryFromFiveBit(values.Take(values.Count - 6).ToList(), out data))
        {
            return false;
        }

        hrp = h;
        return true;
    }

    private static List<byte> ToFiveBit(ReadOnlySpan<byte> data)
    {
        var result = new List<byte>((data.Length * 8 + 4) / 5);
        int acc = 0, bits = 0;
        foreach (var b in data)
        {
            acc = (acc << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                result.Add((byte)((acc >> bits) & 31));
            }
        }

        if (bits > 0)
        {
            result.Add((byte)((acc << (5 - bits)) & 31));
        }

        return result;
    }

    private static bool TryFromFiveBit(List<byte> values, out byte[] data)
    {
        var result = new List<byte>(values.Count * 5 / 8);
        int acc = 0, bits = 0;
        foreach (var v in values)
        {
            acc = (acc << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                result.Add((byte)((acc >> bits) & 255));
            }
        }

        // Padding must be under 5 bits and all zero (BIP 173).
        data = [.. result];
        return bits < 5 && (acc & ((1 << bits) - 1)) == 0;
    }

    private static IEnumerable<byte> Expand(string hrp) =>
        hrp.Select(c => (byte)(c >> 5)).Append((byte)0).Concat(hrp.Select(c => (byte)(c & 31)));

    private static uint Polymod(IEnumerable<byte> values)
    {
        uint chk = 1;
        foreach (var v in values)
        {
            var top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ v;
            for (var i = 0; i < 5; i++)
            {
                if (((top >> i) & 1) != 0)
                {
                    chk ^= s_generator[i];
                }
            }
        }

        return chk;
    }

    private static IEnumerable<byte> Checksum(string hrp, List<byte> values)
    {
        var mod = Polymod(Expand(hrp).Concat(values).Concat(new byte[6])) ^ 1;
        for (var i = 0; i < 6; i++)
        {
            yield return (byte)((mod >> (5 * (5 - i))) & 31);
        }
    }
}
