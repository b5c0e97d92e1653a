using System.Net;

namespace Kldload.MeshCA.Distribution;

/// <summary>One WireGuard peer as a node (or the hub) should configure it.</summary>
public sealed record MeshPeer
{
    /// <summary>Node id of the peer, or <see cref="PeerBundle.HubName"/>.</summary>
    public required string Name { get; init; }

    /// <summary>X25519 public key, 32 bytes.</summary>
    public required byte[] PublicKey { get; init; }

    /// <summary>Cryptokey routing: the source addresses accepted from, and routed to, this peer.</summary>
    public required IReadOnlyList<IPNetwork> AllowedIps { get; init; }

    /// <summary><c>host:port</c> to dial, or null when the peer dials in.</summary>
    public string? Endpoint { get; init; }

    /// <summary>PersistentKeepalive in seconds; 0 = off.</summary>
    public int PersistentKeepalive { get; init; }

    public bool Equals(MeshPeer? other) =>
        other is not null && Name == other.Name && PublicKey.AsSpan().SequenceEqual(other.PublicKey)
        && AllowedIps.SequenceEqual(other.AllowedIps) && Endpoint == other.Endpoint && PersistentKeepalive == other.PersistentKeepalive;

    public override int GetHashCode() => HashCode.Combine(Name, Convert.ToBase64String(PublicKey), Endpoint, PersistentKeepalive);
}

/// <summary>
/// What one mesh member needs to configure its WireGuard interface: its own addresses, its peers,
/// and the public keys it must never accept (revoked). Numbered by <see cref="Epoch"/>, which grows
/// with every mesh change: a node keeps the newest bundle it has verified and refuses older ones.
/// Never holds a private key.
/// </summary>
public sealed record PeerBundle
{
    /// <summary>The name the hub goes by in bundles.</summary>
    public const string HubName = "hub";

    /// <summary>Format version of the serialized payload.</summary>
    public const int FormatVersion = 1;

    /// <summary>Whom this bundle is for: a node id, or <see cref="HubName"/>.</summary>
    public required string NodeId { get; init; }

    /// <summary>Mesh epoch: strictly increasing over the life of the mesh.</summary>
    public required ulong Epoch { get; init; }

    public required DateTimeOffset IssuedAt { get; init; }

    /// <summary>WireGuard key epoch the node must derive (the N in <c>kldload/wg/v1/epoch=N</c>).</summary>
    public uint KeyEpoch { get; init; }

    /// <summary>Interface addresses with the mesh prefix length, for example <c>fd12:...:7/64</c>.</summary>
    public required IReadOnlyList<InterfaceAddress> Addresses { get; init; }

    /// <summary>UDP port to listen on; null = any (nodes), the hub sets it.</summary>
    public int? ListenPort { get; init; }

    public required IReadOnlyList<MeshPeer> Peers { get; init; }

    /// <summary>Denylist: revoked public keys, never to be configured as peers.</summary>
    public required IReadOnlyList<byte[]> Revoked { get; init; }
}

/// <summary>An interface address and the on-link prefix length (<c>fd12::7/64</c>).</summary>
public readonly record struct InterfaceAddress(IPAddress Address, int PrefixLength)
{
    public override string ToString() => $"{Address}/{PrefixLength}";

    public static bool TryParse(string? text, out InterfaceAddress value)
    {
        value = default;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0 || !IPAddress.TryParse(text.AsSpan(0, slash), out var address)
            || !int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length)
            || length > (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
        {
            return false;
        }

        value = new InterfaceAddress(address, length);
        return true;
    }
}
