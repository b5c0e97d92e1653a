using System.Buffers.Binary;
using System.Net.Sockets;
using Kldload.Tpm.Errors;

namespace Kldload.Tpm.Transport;

/// <summary>swtpm control channel commands (swtpm's <c>tpm_ioctl.h</c>, <c>PTM_*</c>/<c>CMD_*</c>).</summary>
public enum SwtpmControlCommand : uint
{
    GetCapability = 0x01,
    Init = 0x02,
    Shutdown = 0x03,
    GetTpmEstablished = 0x04,
    SetLocality = 0x05,
    Stop = 0x0E,
    GetConfig = 0x0F,
}

/// <summary>
/// swtpm's control port (<c>--ctrl type=tcp,port=P+1</c>): <c>cmd u32 | payload</c> in,
/// <c>ptm_res u32 | payload</c> out, big-endian, one command per connection.
/// </summary>
public sealed class SwtpmControl
{
    private readonly string _host;
    private readonly int _port;
    private readonly TimeSpan _timeout;

    public SwtpmControl(string host, int port, TimeSpan? timeout = null)
    {
        _host = host;
        _port = port;
        _timeout = timeout ?? TimeSpan.FromSeconds(10);
    }

    /// <summary>CMD_INIT: (re)initialises the TPM; the TPM then expects TPM2_Startup. Flag 1 deletes volatile state.</summary>
    public void Init(uint flags = 0)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, flags);
        Send(SwtpmControlCommand.Init, payload, 0);
    }

    /// <summary>CMD_SHUTDOWN: swtpm saves its state and exits.</summary>
    public void Shutdown() => Send(SwtpmControlCommand.Shutdown, [], 0);

    /// <summary>CMD_SET_LOCALITY: the locality of the following commands (0-4).</summary>
    public void SetLocality(byte locality) => Send(SwtpmControlCommand.SetLocality, [locality], 0);

    /// <summary>CMD_GET_CAPABILITY: the bitmap of supported control commands.</summary>
    public ulong GetCapability()
    {
        // The capability answer has no ptm_res: it is one u64.
        var reply = Exchange(SwtpmControlCommand.GetCapability, [], 8);
        return BinaryPrimitives.ReadUInt64BigEndian(reply);
    }

    /// <summary>CMD_GET_TPMESTABLISHED: the TPM Established bit.</summary>
    public bool GetTpmEstablished()
    {
        var payload = Send(SwtpmControlCommand.GetTpmEstablished, [], 4);
        return payload[0] != 0;
    }

    private byte[] Send(SwtpmControlCommand command, ReadOnlySpan<byte> payload, int replyPayload)
    {
        var reply = Exchange(command, payload, 4 + replyPayload);
        var result = BinaryPrimitives.ReadUInt32BigEndian(reply);
        return result != 0
            ? throw new TpmTransportException($"swtpm control {command} failed with ptm_res 0x{result:x}")
            : reply[4..];
    }

    private byte[] Exchange(SwtpmControlCommand command, ReadOnlySpan<byte> payload, int replySize)
    {
        var request = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(request, (uint)command);
        payload.CopyTo(request.AsSpan(4));
        try
        {
            using var client = new TcpClient { ReceiveTimeout = (int)_timeout.TotalMilliseconds, SendTimeout = (int)_timeout.TotalMilliseconds };
            using var cts = new CancellationTokenSource(_timeout);
            client.ConnectAsync(_host, _port, cts.Token).AsTask().GetAwaiter().GetResult();
            using var stream = client.GetStream();
            stream.Write(request);
            var reply = new byte[replySize];
            stream.ReadExactly(reply);
            return reply;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or EndOfStreamException)
        {
            throw new TpmTransportException($"swtpm control {command} at {_host}:{_port} failed: {e.Message}", e);
        }
    }
}
