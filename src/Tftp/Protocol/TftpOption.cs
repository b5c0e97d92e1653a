namespace Kldload.Tftp.Protocol;

/// <summary>
/// One RFC 2347 option: a name and a value, both NUL-terminated strings on the wire. Names compare
/// case-insensitively (RFC 2347 section 2). Values are kept as sent; typed meaning lives in
/// <see cref="TftpOptionNames"/> and the transfer's negotiation.
/// </summary>
public readonly record struct TftpOption(string Name, string Value);

/// <summary>Option names this server understands (RFC 2348, RFC 2349, RFC 7440).</summary>
public static class TftpOptionNames
{
    /// <summary>RFC 2348: block size in octets, 8 to 65464.</summary>
    public const string BlockSize = "blksize";

    /// <summary>RFC 2349 section 2: retransmission timeout in seconds, 1 to 255.</summary>
    public const string Timeout = "timeout";

    /// <summary>RFC 2349 section 3: transfer size in octets (0 in a read request asks for it).</summary>
    public const string TransferSize = "tsize";

    /// <summary>RFC 7440: number of blocks sent before an ACK, 1 to 65535.</summary>
    public const string WindowSize = "windowsize";
}

/// <summary>Reads and writes the NUL-terminated strings TFTP packets are made of.</summary>
internal static class TftpStringField
{
    /// <summary>
    /// Reads one NUL-terminated string at the start of <paramref name="source"/>. Bytes map 1:1 to
    /// chars (Latin-1) so no byte is lost or rejected here; the file source judges the name.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out string value, out int consumed)
    {
        var nul = source.IndexOf((byte)0);
        if (nul < 0)
        {
            value = string.Empty;
            consumed = 0;
            return false;
        }

        value = System.Text.Encoding.Latin1.GetString(source[..nul]);
        consumed = nul + 1;
        return true;
    }

    /// <summary>Bytes <paramref name="value"/> takes on the wire, including its NUL.</summary>
    public static int Size(string value) => value.Length + 1;

    /// <summary>Writes <paramref name="value"/> and its NUL; false when a char is not one byte or it does not fit.</summary>
    public static bool TryWrite(Span<byte> destination, string value, out int written)
    {
        written = 0;
        if (destination.Length < value.Length + 1)
        {
            return false;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\0' or > '\u00ff')
            {
                return false;
            }

            destination[i] = (byte)c;
        }

        destination[value.Length] = 0;
        written = value.Length + 1;
        return true;
    }

    /// <summary>Reads name/value pairs until the end of <paramref name="source"/> (RFC 2347 section 2).</summary>
    public static bool TryReadOptions(ReadOnlySpan<byte> source, out List<TftpOption> options, out string? error)
    {
        options = [];
        while (!source.IsEmpty)
        {
            if (!TryRead(source, out var name, out var used))
            {
                error = "option name is not NUL-terminated";
                return false;
            }

            source = source[used..];
            if (!TryRead(source, out var value, out used))
            {
                error = $"option '{name}' has no NUL-terminated value";
                return false;
            }

            source = source[used..];
            if (name.Length == 0)
            {
                error = "empty option name";
                return false;
            }

            options.Add(new TftpOption(name, value));
        }

        error = null;
        return true;
    }

    public static bool TryWriteOptions(Span<byte> destination, IReadOnlyList<TftpOption> options, out int written)
    {
        written = 0;
        foreach (var option in options)
        {
            if (!TryWrite(destination[written..], option.Name, out var n))
            {
                return false;
            }

            written += n;
            if (!TryWrite(destination[written..], option.Value, out n))
            {
                return false;
            }

            written += n;
        }

        return true;
    }
}
