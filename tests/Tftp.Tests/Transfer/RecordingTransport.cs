using System.Net;
using Kldload.Tftp.Protocol;
using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Tests.Transfer;

/// <summary>A transport that keeps every datagram the server sends, for assertions.</summary>
internal sealed class RecordingTransport : ITftpTransport
{
    public List<(byte[] Datagram, SocketAddress Destination)> Sent { get; } = [];

    /// <summary>When set, datagrams for which it returns true are "lost" (recorded as dropped, not delivered).</summary>
    public Func<byte[], bool>? Drop { get; set; }

    public void Send(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        var copy = datagram.ToArray();
        Sent.Add((copy, destination));
    }

    public List<byte[]> TakeAll()
    {
        var all = Sent.Select(s => s.Datagram).ToList();
        Sent.Clear();
        return all;
    }

    public static ushort DataBlock(byte[] datagram)
    {
        Assert.True(TftpData.TryRead(datagram, out var data, out var error), error);
        return data.Block;
    }

    public static SocketAddress Address(string endpoint) => IPEndPoint.Parse(endpoint).Serialize();
}
