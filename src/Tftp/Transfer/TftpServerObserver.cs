using System.Net;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// What the server reports about its work. The library stays free of metrics and logging packages:
/// the host subclasses this and turns calls into counters and log lines. Calls come from the
/// server's threads and must be quick; every method does nothing by default.
/// </summary>
public class TftpServerObserver
{
    /// <summary>An observer that ignores everything.</summary>
    public static readonly TftpServerObserver None = new();

    /// <summary>A read request was accepted and its transfer starts.</summary>
    public virtual void TransferStarted(TftpTransferInfo info)
    {
    }

    /// <summary>A transfer ended, well or not. Called exactly once per started transfer.</summary>
    public virtual void TransferEnded(TftpTransferResult result)
    {
    }

    /// <summary>DATA packets went out (first sends and retransmissions), with their payload octets.</summary>
    public virtual void DataSent(int packets, long payloadBytes)
    {
    }

    /// <summary>DATA or OACK packets were sent again after a timeout or a partial ACK.</summary>
    public virtual void Retransmitted(int packets)
    {
    }

    /// <summary>A datagram was ignored: malformed, unexpected, or from a wrong TID.</summary>
    public virtual void PacketDropped(TftpDropReason reason)
    {
    }

    /// <summary>The listener caught an unexpected exception while handling a datagram and carried on.</summary>
    public virtual void ListenerFault(Exception exception)
    {
    }

    /// <summary>A request was answered with an ERROR and no transfer started. Called once per request.</summary>
    public virtual void RequestRefused(IPEndPoint client, string fileName, TftpRefusal refusal, string detail)
    {
    }
}

/// <summary>Why a datagram was ignored.</summary>
public enum TftpDropReason : byte
{
    /// <summary>Not a TFTP packet this server can parse.</summary>
    Malformed = 0,

    /// <summary>A valid packet that has no place here (a DATA sent to a read transfer, say).</summary>
    Unexpected = 1,

    /// <summary>From an address or port that is not the transfer's client (answered with ERROR 5).</summary>
    UnknownTransferId = 2,

    /// <summary>An ACK for a block already acknowledged: never answered (Sorcerer's Apprentice, RFC 1123 4.2.3.1).</summary>
    DuplicateAck = 3,
}

/// <summary>Why a request got an ERROR instead of a transfer.</summary>
public enum TftpRefusal : byte
{
    Malformed = 0,
    WriteRequest = 1,
    UnsupportedMode = 2,
    NotFound = 3,
    AccessViolation = 4,
    ServerBusy = 5,
    NoTransferPort = 6,
}

/// <summary>How a transfer ended.</summary>
public enum TftpTransferOutcome : byte
{
    Completed = 0,
    TimedOut = 1,
    ClientError = 2,
    ReadError = 3,
    Cancelled = 4,
}

/// <summary>A transfer as it starts.</summary>
public sealed record TftpTransferInfo(IPEndPoint Client, string FileName, long? Length, int BlockSize, int WindowSize, bool OptionsNegotiated);

/// <summary>A transfer as it ended: what the one log line per transfer says.</summary>
public sealed record TftpTransferResult(
    IPEndPoint Client,
    string FileName,
    TftpTransferOutcome Outcome,
    long BytesAcknowledged,
    int BlockSize,
    int WindowSize,
    TimeSpan Duration,
    long Retransmissions,
    string? Detail)
{
    /// <summary>Acknowledged payload octets per second over the whole transfer.</summary>
    public double BytesPerSecond => Duration > TimeSpan.Zero ? BytesAcknowledged / Duration.TotalSeconds : 0;
}
