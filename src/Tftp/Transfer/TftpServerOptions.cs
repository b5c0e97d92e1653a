namespace Kldload.Tftp.Transfer;

/// <summary>Limits and timing of the server; the host fills it from the <c>Tftp</c> settings.</summary>
public sealed record TftpServerOptions
{
    /// <summary>Concurrent transfers; a request beyond it gets ERROR "server busy".</summary>
    public int MaxSessions { get; init; } = 500;

    /// <summary>Initial retransmission timeout; it then follows the measured round trip.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Timeouts in a row before a transfer is abandoned.</summary>
    public int Retries { get; init; } = 6;

    /// <summary>Largest blksize granted (RFC 2348: 8 to 65464).</summary>
    public int MaxBlockSize { get; init; } = 1468;

    /// <summary>Largest windowsize granted (RFC 7440: 1 to 65535).</summary>
    public int MaxWindowSize { get; init; } = 16;

    /// <summary>Floor of the adaptive timeout: below it, scheduling jitter alone would cause retransmissions.</summary>
    public TimeSpan MinTimeout { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// How long an OACK waits for ACK 0 before it is sent again, when the client sent no RFC 2349
    /// timeout (else that timeout plus a second). Longer than common client timers (atftp, tftp-hpa:
    /// 5 s) on purpose: see <see cref="TftpReadTransfer"/>.
    /// </summary>
    public TimeSpan OptionAckTimeout { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>Ceiling of the adaptive timeout when the client sent no RFC 2349 timeout.</summary>
    public TimeSpan MaxTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
