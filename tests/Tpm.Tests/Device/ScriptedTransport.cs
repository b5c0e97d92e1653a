using Kldload.Tpm.Transport;

namespace Kldload.Tpm.Tests.Device;

/// <summary>A transport that checks each command against a captured one and answers with the captured response.</summary>
internal sealed class ScriptedTransport : ITpmTransport
{
    private readonly Queue<(byte[]? Command, byte[] Response)> _script = new();

    public List<byte[]> Sent { get; } = [];

    public ScriptedTransport Expect(byte[]? command, byte[] response)
    {
        _script.Enqueue((command, response));
        return this;
    }

    public ScriptedTransport ExpectLog(int index)
    {
        var (_, cmd, rsp) = TestVectors.Log(index);
        return Expect(cmd, rsp);
    }

    public int Pending => _script.Count;

    public byte[] Transact(ReadOnlySpan<byte> command)
    {
        Sent.Add(command.ToArray());
        var (expected, response) = _script.Dequeue();
        if (expected is not null)
        {
            Assert.Equal(Convert.ToHexStringLower(expected), Convert.ToHexStringLower(command));
        }

        return response;
    }

    public void Dispose()
    {
    }
}
