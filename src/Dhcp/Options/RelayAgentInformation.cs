namespace Kldload.Dhcp.Options;

/// <summary>
/// Option 82, relay agent information (RFC 3046). A relay adds it to requests it forwards; the
/// server echoes it unchanged in replies (section 2.2) so the relay can route them, and kldload
/// stores it with the lease for matching a node to its switch port.
/// <code>
/// +----+-----+---+-----+------------+---+-----+-----------+---
/// | 82 | len | 1 | len | circuit id | 2 | len | remote id | ...
/// +----+-----+---+-----+------------+---+-----+-----------+---
/// </code>
/// </summary>
public sealed record RelayAgentInformation(byte[] Raw, byte[]? CircuitId, byte[]? RemoteId)
{
    /// <summary>Sub-option 1, agent circuit id (RFC 3046 section 3.1).</summary>
    public const byte CircuitIdCode = 1;

    /// <summary>Sub-option 2, agent remote id (RFC 3046 section 3.2).</summary>
    public const byte RemoteIdCode = 2;

    public static bool TryRead(ReadOnlySpan<byte> source, out RelayAgentInformation info)
    {
        if (!SubOptionList.TryRead(source, padAndEnd: false, out var list))
        {
            info = new RelayAgentInformation([], null, null);
            return false;
        }

        info = new RelayAgentInformation(source.ToArray(), list.Get(CircuitIdCode), list.Get(RemoteIdCode));
        return true;
    }

    public static RelayAgentInformation Create(byte[]? circuitId, byte[]? remoteId)
    {
        var list = new SubOptionList();
        if (circuitId is not null)
        {
            list.Add(CircuitIdCode, circuitId);
        }

        if (remoteId is not null)
        {
            list.Add(RemoteIdCode, remoteId);
        }

        return new RelayAgentInformation(list.ToArray(), circuitId, remoteId);
    }

    public override string ToString() =>
        $"circuit-id={(CircuitId is null ? "-" : Convert.ToHexString(CircuitId))} remote-id={(RemoteId is null ? "-" : Convert.ToHexString(RemoteId))}";
}
