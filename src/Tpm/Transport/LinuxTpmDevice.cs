using Kldload.Tpm.Errors;

namespace Kldload.Tpm.Transport;

/// <summary>
/// A Linux TPM character device: <c>/dev/tpmrm0</c> (the kernel resource manager, preferred: it swaps
/// transient objects and sessions) or <c>/dev/tpm0</c> (raw, three transient slots). The kernel driver
/// takes exactly one whole command per write() and returns the whole response in one read().
/// </summary>
public sealed class LinuxTpmDevice : ITpmTransport
{
    /// <summary>The resource-managed device.</summary>
    public const string ResourceManagerPath = "/dev/tpmrm0";

    /// <summary>The raw device.</summary>
    public const string RawPath = "/dev/tpm0";

    private readonly FileStream _stream;
    private readonly byte[] _response = new byte[TpmFraming.MaxResponseSize];

    public LinuxTpmDevice(string path = ResourceManagerPath)
    {
        Path = path;
        try
        {
            // bufferSize 0: no FileStream buffering, so one Write is one write(2) and one Read is one read(2).
            _stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TpmTransportException($"cannot open TPM device {path}: {e.Message}", e);
        }
    }

    public string Path { get; }

    /// <summary>The first device that exists: the resource manager, then the raw device; null if none.</summary>
    public static string? FindDevice() =>
        File.Exists(ResourceManagerPath) ? ResourceManagerPath : File.Exists(RawPath) ? RawPath : null;

    public byte[] Transact(ReadOnlySpan<byte> command)
    {
        try
        {
            _stream.Write(command);
            var read = _stream.Read(_response);
            if (read < TpmFraming.HeaderSize)
            {
                throw new TpmTransportException($"short TPM response from {Path}: {read} bytes");
            }

            var size = TpmFraming.ResponseSize(_response);
            return size != read
                ? throw new TpmTransportException($"TPM response from {Path} announces {size} bytes but {read} arrived")
                : _response.AsSpan(0, read).ToArray();
        }
        catch (IOException e)
        {
            throw new TpmTransportException($"TPM device {Path} I/O failed: {e.Message}", e);
        }
    }

    public void Dispose() => _stream.Dispose();
}
