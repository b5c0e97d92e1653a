using System.Globalization;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// The parameters a read transfer runs with after RFC 2347 option negotiation. <see cref="OptionAck"/>
/// is null when no option was accepted: the transfer is then plain RFC 1350 (512-byte blocks, DATA 1 first).
/// </summary>
public sealed record TftpNegotiation(int BlockSize, int WindowSize, TimeSpan? ClientTimeout, bool Netascii, TftpOptionAck? OptionAck)
{
    /// <summary>RFC 1350 block size.</summary>
    public const int DefaultBlockSize = 512;

    /// <summary>RFC 2348 bounds.</summary>
    public const int MinBlockSize = 8;

    public const int MaxBlockSize = 65464;

    /// <summary>
    /// Negotiates <paramref name="request"/>'s options within <paramref name="options"/>' limits:
    /// blksize (8..65464, capped), timeout (1..255 s, echoed unchanged as RFC 2349 requires),
    /// tsize (answered with <paramref name="length"/> when known and not zero), windowsize (1..65535, capped).
    /// Invalid values and unknown options are left out of the OACK, never refused.
    /// </summary>
    public static TftpNegotiation Negotiate(TftpRequest request, TftpServerOptions options, long? length)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        var netascii = string.Equals(request.Mode, TftpRequest.NetasciiMode, StringComparison.OrdinalIgnoreCase);
        var blockSize = DefaultBlockSize;
        var windowSize = 1;
        TimeSpan? clientTimeout = null;
        var accepted = new List<TftpOption>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        foreach (var option in request.Options)
        {
            if (!seen.Add(option.Name))
            {
                continue;
            }

            var name = option.Name.ToLowerInvariant();
            switch (name)
            {
                case TftpOptionNames.BlockSize when TryParse(option.Value, out var value) && value >= MinBlockSize:
                    blockSize = (int)Math.Min(Math.Min(value, MaxBlockSize), options.MaxBlockSize);
                    accepted.Add(new TftpOption(name, blockSize.ToString(CultureInfo.InvariantCulture)));
                    break;
                case TftpOptionNames.Timeout when TryParse(option.Value, out var value) && value is >= 1 and <= 255:
                    clientTimeout = TimeSpan.FromSeconds(value);
                    accepted.Add(new TftpOption(name, value.ToString(CultureInfo.InvariantCulture)));
                    break;
                // Not for an empty file: curl treats "tsize 0" in an OACK as an illegal operation, and
                // leaving an option out of the OACK is always allowed (RFC 2347 section 2).
                case TftpOptionNames.TransferSize when length is { } known && known > 0 && !netascii && TryParse(option.Value, out _):
                    accepted.Add(new TftpOption(name, known.ToString(CultureInfo.InvariantCulture)));
                    break;
                case TftpOptionNames.WindowSize when TryParse(option.Value, out var value) && value is >= 1 and <= 65535:
                    windowSize = (int)Math.Min(value, options.MaxWindowSize);
                    accepted.Add(new TftpOption(name, windowSize.ToString(CultureInfo.InvariantCulture)));
                    break;
                default:
                    break;
            }
        }

        return new TftpNegotiation(blockSize, windowSize, clientTimeout, netascii, accepted.Count == 0 ? null : new TftpOptionAck(accepted));
    }

    private static bool TryParse(string value, out long result) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result);
}
