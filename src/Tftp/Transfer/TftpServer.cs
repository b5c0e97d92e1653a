using System.Net;
using Kldload.Tftp.Files;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Transfer;

/// <summary>
/// Answers datagrams that arrive on the well-known port: a read request becomes a
/// <see cref="TftpReadTransfer"/> on a port of its own; everything else is refused with an ERROR
/// from the well-known port (write requests, unknown modes, missing or refused files, a full house)
/// or dropped (malformed or stray packets). No sockets here: the listener supplies transports.
/// </summary>
public sealed class TftpServer
{
    private readonly TftpServerOptions _options;
    private readonly ITftpFileSource _files;
    private readonly TimeProvider _time;
    private readonly TftpServerObserver _observer;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<SocketAddress, TftpReadTransfer> _byClient = new();
    private int _active;

    public TftpServer(TftpServerOptions options, ITftpFileSource files, TimeProvider time, TftpServerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _files = files;
        _time = time;
        _observer = observer ?? TftpServerObserver.None;
    }

    /// <summary>Transfers started and not yet ended.</summary>
    public int ActiveTransfers => Volatile.Read(ref _active);

    /// <summary>
    /// Handles one datagram from <paramref name="client"/> on the well-known port. Errors go out on
    /// <paramref name="requestPort"/>; an accepted read request gets a transport from
    /// <paramref name="openTransferPort"/> (a new ephemeral port: the transfer's TID) and is started
    /// before it is returned. <paramref name="client"/> is copied, so the caller may reuse it.
    /// </summary>
    public TftpReadTransfer? HandleRequest(ReadOnlySpan<byte> datagram, SocketAddress client, ITftpTransport requestPort, Func<ITftpTransport> openTransferPort)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(requestPort);
        ArgumentNullException.ThrowIfNull(openTransferPort);
        if (!TftpPacket.TryReadOpcode(datagram, out var opcode))
        {
            _observer.PacketDropped(TftpDropReason.Malformed);
            return null;
        }

        if (opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            // Stray DATA/ACK/ERROR on the request port: no answer, so it cannot be used to reflect traffic.
            _observer.PacketDropped(TftpDropReason.Unexpected);
            return null;
        }

        if (!TftpRequest.TryRead(datagram, out var request, out var problem))
        {
            _observer.PacketDropped(TftpDropReason.Malformed);
            Refuse(requestPort, client, string.Empty, TftpRefusal.Malformed, TftpErrorCode.IllegalOperation, "malformed request", problem ?? "malformed");
            return null;
        }

        if (request.Opcode == TftpOpcode.WriteRequest)
        {
            Refuse(requestPort, client, request.FileName, TftpRefusal.WriteRequest, TftpErrorCode.AccessViolation, "server is read-only", "write request");
            return null;
        }

        if (!string.Equals(request.Mode, TftpRequest.OctetMode, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(request.Mode, TftpRequest.NetasciiMode, StringComparison.OrdinalIgnoreCase))
        {
            Refuse(requestPort, client, request.FileName, TftpRefusal.UnsupportedMode, TftpErrorCode.IllegalOperation, "unsupported mode", $"mode '{request.Mode}'");
            return null;
        }

        // The same client port asking again: it lost our OACK (or is impatient). The transfer it
        // already has answers; a second transfer would race the first for the same client port.
        if (_byClient.TryGetValue(client, out var existing))
        {
            existing.OnRepeatedRequest();
            return null;
        }

        if (Interlocked.Increment(ref _active) > _options.MaxSessions)
        {
            Interlocked.Decrement(ref _active);
            Refuse(requestPort, client, request.FileName, TftpRefusal.ServerBusy, TftpErrorCode.NotDefined, "server busy", $"{_options.MaxSessions} transfers running");
            return null;
        }

        var started = false;
        try
        {
            var lookup = _files.Open(request.FileName);
            if (lookup.Status != TftpFileStatus.Found)
            {
                if (lookup.Status == TftpFileStatus.Refused)
                {
                    Refuse(requestPort, client, request.FileName, TftpRefusal.AccessViolation, TftpErrorCode.AccessViolation, "access violation", lookup.Reason ?? "refused");
                }
                else
                {
                    Refuse(requestPort, client, request.FileName, TftpRefusal.NotFound, TftpErrorCode.FileNotFound, "file not found", lookup.Reason ?? "not found");
                }

                return null;
            }

            var file = lookup.File!;
            ITftpTransport transferPort;
            try
            {
                transferPort = openTransferPort();
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
            {
                file.Dispose();
                Refuse(requestPort, client, request.FileName, TftpRefusal.NoTransferPort, TftpErrorCode.NotDefined, "server busy", e.Message);
                return null;
            }

            var negotiation = TftpNegotiation.Negotiate(request, _options, file.Length);
            var clientCopy = new SocketAddress(client.Family, client.Size);
            client.Buffer.CopyTo(clientCopy.Buffer);
            TftpReadTransfer? transfer = null;
            transfer = new TftpReadTransfer(clientCopy, request.FileName, file, negotiation, _options, transferPort, _time, _observer, () =>
            {
                _byClient.TryRemove(new KeyValuePair<SocketAddress, TftpReadTransfer>(clientCopy, transfer!));
                Interlocked.Decrement(ref _active);
            });
            started = true;
            _byClient[clientCopy] = transfer;
            transfer.Start();
            return transfer;
        }
        finally
        {
            if (!started)
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private void Refuse(ITftpTransport port, SocketAddress client, string fileName, TftpRefusal refusal, TftpErrorCode code, string message, string detail)
    {
        TftpErrorSender.Send(port, client, code, message);
        _observer.RequestRefused((IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(client), fileName, refusal, detail);
    }
}
