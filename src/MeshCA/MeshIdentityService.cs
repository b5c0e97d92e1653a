using System.Security.Cryptography.X509Certificates;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;

namespace Kldload.MeshCA;

/// <summary>Everything an attested node receives to join the mesh.</summary>
/// <param name="Addresses">Its mesh addresses.</param>
/// <param name="CertificatePem">Its node certificate.</param>
/// <param name="CaBundlePem">Trusted roots and the intermediate (<c>openssl verify -CAfile</c>).</param>
/// <param name="Bundle">Its signed peer bundle.</param>
/// <param name="WgQuickConfig">The bundle rendered for wg-quick, without a private key.</param>
public sealed record MeshEnrollment(MeshAddresses Addresses, string CertificatePem, string CaBundlePem, SignedPeerBundle Bundle, string WgQuickConfig);

/// <summary>A node cannot be given a mesh identity; the message says why.</summary>
public sealed class MeshEnrollmentException(string message) : Exception(message);

/// <summary>
/// Turns an attested node into a mesh member and takes it off again: address (IPAM), certificate (CA),
/// roster entry, signed peer bundle, and the live hub peer. The provisioner's attestation code calls
/// <see cref="Enroll"/> once the node's EK, AK and quote are trusted (the WireGuard key it passes is
/// the one bound by the quote), and <see cref="Revoke"/> / <see cref="Decommission"/> from the admin API.
/// </summary>
public sealed class MeshIdentityService(
    MeshCertificateAuthority ca,
    MeshAddressAllocator addresses,
    MeshRoster roster,
    IMeshHub hub,
    TimeSpan certificateLifetime)
{
    private readonly Lock _gate = new();

    public MeshCertificateAuthority Authority => ca;

    public MeshAddressAllocator Addresses => addresses;

    public MeshRoster Roster => roster;

    public IMeshHub Hub => hub;

    /// <summary>
    /// Enrols (or re-enrols) <paramref name="nodeId"/> with the WireGuard key bound by its attestation.
    /// A reboot lands on the same address; a new key revokes the previous one on every bundle and on the hub.
    /// </summary>
    public MeshEnrollment Enroll(string nodeId, ReadOnlySpan<byte> ekSha256, ReadOnlySpan<byte> wireGuardPublicKey, uint keyEpoch, string? endpoint = null, IReadOnlyDictionary<string, string>? labels = null)
    {
        if (!NodeIdentity.IsValidNodeId(nodeId))
        {
            throw new MeshEnrollmentException($"node id '{nodeId}' must be 1 to 64 of A-Z a-z 0-9 . _ -");
        }

        if (!WireGuardKey.IsAcceptablePeerKey(wireGuardPublicKey))
        {
            throw new MeshEnrollmentException("the WireGuard public key is not a usable X25519 key (wrong length or small order)");
        }

        if (roster.IsRevoked(wireGuardPublicKey))
        {
            throw new MeshEnrollmentException($"the WireGuard key of {nodeId} is revoked: the node must derive key epoch {roster.KeyEpochFor(nodeId)}");
        }

        var ek = ekSha256.ToArray();
        var key = wireGuardPublicKey.ToArray();
        lock (_gate)
        {
            var assigned = addresses.Allocate(nodeId, ek);
            using var certificate = ca.Issue(new NodeIdentity
            {
                NodeId = nodeId,
                WireGuardPublicKey = key,
                EkSha256 = ek,
                Address6 = assigned.Address6,
                Address4 = assigned.Address4,
            }, certificateLifetime);

            var member = new MeshMember
            {
                NodeId = nodeId,
                PublicKey = key,
                KeyEpoch = keyEpoch,
                Address6 = assigned.Address6,
                Address4 = assigned.Address4,
                Endpoint = endpoint,
                Hub = roster.Topology.HubId,
                Labels = labels is null ? new Dictionary<string, string>() : new Dictionary<string, string>(labels, StringComparer.Ordinal),
            };
            byte[]? replaced;
            try
            {
                replaced = roster.Upsert(member);
            }
            catch (InvalidOperationException e)
            {
                throw new MeshEnrollmentException(e.Message);
            }

            if (replaced is not null)
            {
                hub.RemovePeer(replaced);
            }

            hub.AddOrUpdatePeer(MeshRoster.HubPeerFor(member));
            var bundle = roster.BundleFor(nodeId)!;
            return new MeshEnrollment(assigned, certificate.ExportCertificatePem() + "\n", ca.CaBundlePem, SignedPeerBundle.Sign(bundle, ca), WireGuardConfigRenderer.RenderWgQuick(bundle));
        }
    }

    /// <summary>The node's current signed bundle (nodes poll it), or null when it is not a member.</summary>
    public SignedPeerBundle? SignedBundleFor(string nodeId)
    {
        lock (_gate)
        {
            return roster.BundleFor(nodeId) is { } b ? SignedPeerBundle.Sign(b, ca) : null;
        }
    }

    /// <summary>
    /// A fresh node certificate for a current member (the same identity: key, addresses, EK, valid for the
    /// certificate lifetime from now), for the node's renewal before the old one runs out. Null when the
    /// node is not a member (revoked or decommissioned) or holds no addresses.
    /// </summary>
    public X509Certificate2? RenewCertificate(string nodeId)
    {
        lock (_gate)
        {
            if (roster.Find(nodeId) is not { } member || addresses.Find(nodeId) is not { } assigned || addresses.FindEkSha256(nodeId) is not { } ek)
            {
                return null;
            }

            return ca.Issue(new NodeIdentity
            {
                NodeId = nodeId,
                WireGuardPublicKey = member.PublicKey,
                EkSha256 = ek,
                Address6 = assigned.Address6,
                Address4 = assigned.Address4,
            }, certificateLifetime);
        }
    }

    /// <summary>
    /// Revokes the node's key now: off the hub at once and on every later bundle's denylist. The node
    /// keeps its addresses and may re-enrol with a key of a newer key epoch. False if not a member.
    /// </summary>
    public bool Revoke(string nodeId)
    {
        lock (_gate)
        {
            var key = roster.Revoke(nodeId);
            if (key is null)
            {
                return false;
            }

            hub.RemovePeer(key);
            return true;
        }
    }

    /// <summary>
    /// Another provisioner sharing the roster changed it: reads it again and brings the hub in line
    /// (revoked or re-keyed members off it at once, new members on it). When routes through other
    /// hubs moved, the hub is given its whole configuration (<see cref="IMeshHub.Synchronize"/>):
    /// members homed here as peers, the other hubs with their members' routes, nothing else.
    /// </summary>
    public MeshRosterChange Resync()
    {
        lock (_gate)
        {
            var change = roster.Reload();
            foreach (var key in change.Removed)
            {
                hub.RemovePeer(key);
            }

            if (change.HubRoutesMoved)
            {
                hub.Synchronize(roster.HubConfiguration());
                return change;
            }

            foreach (var member in change.Changed)
            {
                hub.AddOrUpdatePeer(MeshRoster.HubPeerFor(member));
            }

            return change;
        }
    }

    /// <summary>
    /// Records this provisioner's hub for the others sharing the roster (they peer with it) and gives
    /// the local hub its whole configuration, other hubs included. Called once the hub is up.
    /// </summary>
    public void AnnounceHub(MeshHubRecord record)
    {
        lock (_gate)
        {
            roster.AnnounceHub(record);
            hub.Synchronize(roster.HubConfiguration());
        }
    }

    /// <summary>Revokes the node and releases its addresses into quarantine.</summary>
    public bool Decommission(string nodeId)
    {
        lock (_gate)
        {
            var revoked = Revoke(nodeId);
            var released = addresses.Release(nodeId);
            return revoked || released;
        }
    }
}
