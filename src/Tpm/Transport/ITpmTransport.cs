namespace Kldload.Tpm.Transport;

/// <summary>
/// Carries one marshalled TPM command to a TPM and returns its complete response
/// (TPM 2.0 Part 3: <c>tag u16 | size u32 | code u32 | ...</c>). Implementations are not thread-safe:
/// a TPM executes one command at a time.
/// </summary>
public interface ITpmTransport : IDisposable
{
    /// <summary>Sends <paramref name="command"/> and returns the response bytes (header included).</summary>
    byte[] Transact(ReadOnlySpan<byte> command);
}

/// <summary>Response header framing shared by the transports.</summary>
internal static class TpmFraming
{
    public const int HeaderSize = 10;

    /// <summary>Upper bound for a response; PC Client TPMs answer at most 4096 bytes.</summary>
    public const int MaxResponseSize = 8192;

    public static int ResponseSize(ReadOnlySpan<byte> header)
    {
        var size = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header[2..]);
        return size is < HeaderSize or > MaxResponseSize
            ? throw new Errors.TpmTransportException($"TPM response size {size} is out of range")
            : size;
    }
}
