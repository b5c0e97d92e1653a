using System.Net;
using Kldload.Tftp.Protocol;

namespace Kldload.Tftp.Transfer;

/// <summary>Sends ERROR packets without allocating a buffer.</summary>
internal static class TftpErrorSender
{
    private const int MaxMessage = 200;

    public static void Send(ITftpTransport transport, SocketAddress destination, TftpErrorCode code, string message)
    {
        Span<byte> buffer = stackalloc byte[4 + MaxMessage + 1];
        var text = message.Length > MaxMessage ? message[..MaxMessage] : message;
        if (new TftpError(code, text).TryWrite(buffer, out var written))
        {
            transport.Send(buffer[..written], destination);
        }
    }
}
