using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Kldload.MeshCA.Authority;

/// <summary>
/// What a node certificate binds together: the node id, its WireGuard public key, the fingerprint of
/// its TPM endorsement key, and its mesh addresses.
/// </summary>
public sealed record NodeIdentity
{
    /// <summary>Node id: 1 to 64 of <c>[A-Za-z0-9._-]</c>; it appears in the subject CN and in <c>urn:kldload:node:&lt;id&gt;</c>.</summary>
    public required string NodeId { get; init; }

    /// <summary>The node's X25519 WireGuard public key (32 bytes).</summary>
    public required byte[] WireGuardPublicKey { get; init; }

    /// <summary>SHA-256 of the EK public key (see <see cref="EkFingerprint"/>).</summary>
    public required byte[] EkSha256 { get; init; }

    /// <summary>The node's mesh IPv6 address.</summary>
    public required IPAddress Address6 { get; init; }

    /// <summary>The node's mesh IPv4 address, when the mesh has an IPv4 pool.</summary>
    public IPAddress? Address4 { get; init; }

    /// <summary>Every problem with this identity, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IsValidNodeId(NodeId))
        {
            errors.Add($"node id '{NodeId}' must be 1 to 64 of A-Z a-z 0-9 . _ -");
        }

        if (WireGuardPublicKey is null || !WireGuardKey.IsAcceptablePeerKey(WireGuardPublicKey))
        {
            errors.Add("the WireGuard public key is not a 32-byte X25519 key of large order");
        }

        if (EkSha256 is null || EkSha256.Length != SHA256.HashSizeInBytes)
        {
            errors.Add("the EK fingerprint must be a 32-byte SHA-256 digest");
        }

        if (Address6 is null || Address6.AddressFamily != AddressFamily.InterNetworkV6)
        {
            errors.Add("the mesh address must be IPv6");
        }

        if (Address4 is not null && Address4.AddressFamily != AddressFamily.InterNetwork)
        {
            errors.Add("the IPv4 mesh address must be IPv4");
        }

        return errors;
    }

    /// <summary>True for 1 to 64 of <c>[A-Za-z0-9._-]</c>: safe in a CN, a URN, a LiteDB key and a file name.</summary>
    public static bool IsValidNodeId(string? id) =>
        id is { Length: > 0 and <= 64 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}

/// <summary>
/// The fingerprint that names a TPM: SHA-256 over the EK public key as the attestation code holds it
/// (the marshalled TPMT_PUBLIC of the EK, TPM 2.0 Part 2 section 12.2.4). Both the certificate SAN
/// <c>urn:kldload:ek-sha256:&lt;hex&gt;</c> and the mesh address are derived from it.
/// </summary>
public static class EkFingerprint
{
    /// <summary>SHA-256 of <paramref name="ekPublic"/>.</summary>
    public static byte[] Of(ReadOnlySpan<byte> ekPublic) => SHA256.HashData(ekPublic);

    /// <summary>Lower-case hex, as it appears in the certificate SAN.</summary>
    public static string ToHex(ReadOnlySpan<byte> ekSha256) => Convert.ToHexStringLower(ekSha256);
}
