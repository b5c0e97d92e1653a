namespace Kldload.Bmc;

/// <summary>
/// What kldload asks of a node's baseboard management controller, whatever its protocol (IPMI over LAN
/// or Redfish). Every call has a deadline and retries with backoff inside the implementation; a BMC that
/// does not answer ends in a <see cref="BmcException"/> of kind <see cref="BmcErrorKind.Unreachable"/>.
/// </summary>
public interface IBmcClient : IAsyncDisposable
{
    /// <summary>Reads the chassis power state.</summary>
    Task<BmcPowerState> GetPowerStateAsync(CancellationToken cancellationToken = default);

    /// <summary>Powers on, off (hard) or cycles the chassis.</summary>
    Task SetPowerAsync(BmcPowerAction action, CancellationToken cancellationToken = default);

    /// <summary>Makes the next boot, and only the next one, a network (PXE) boot.</summary>
    Task SetOneTimeNetworkBootAsync(bool efi, CancellationToken cancellationToken = default);

    /// <summary>Reads the system's UUID as the BMC reports it, for the pairing check.</summary>
    Task<BmcSystemUuid> GetSystemUuidAsync(CancellationToken cancellationToken = default);
}

/// <summary>A power request.</summary>
public enum BmcPowerAction
{
    On,
    Off,
    Cycle,
}

/// <summary>The chassis power state as the BMC reports it.</summary>
public enum BmcPowerState
{
    Unknown,
    On,
    Off,
}

/// <summary>Why a BMC call failed; the CLI and the API map each kind to a clear message.</summary>
public enum BmcErrorKind
{
    /// <summary>No answer within the deadline, after every retry (or the port refused the datagram).</summary>
    Unreachable,

    /// <summary>The BMC refused the user name or the password (or the certificate fingerprint did not match).</summary>
    AuthenticationFailed,

    /// <summary>The BMC answered but refused the command (completion code, HTTP status).</summary>
    CommandRefused,

    /// <summary>The BMC answered with something that does not follow the protocol.</summary>
    ProtocolError,

    /// <summary>The BMC lacks something kldload needs (no IPMI 2.0, no cipher suite kldload accepts).</summary>
    Unsupported,
}

/// <summary>A BMC call that failed, with the reason as a <see cref="BmcErrorKind"/> and a message for an operator.</summary>
public sealed class BmcException : Exception
{
    public BmcException(BmcErrorKind kind, string message, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    public BmcErrorKind Kind { get; }
}
