using System.Security.Cryptography.X509Certificates;
using Kldload.MeshCA.Authority;

namespace Kldload.MeshCA.Distribution;

/// <summary>Why a bundle was refused.</summary>
public enum BundleVerdict : byte
{
    /// <summary>Verified and newer than the last good bundle (or the first one): now the current bundle.</summary>
    Accepted = 0,

    /// <summary>The same bundle as the current one again: nothing changes.</summary>
    Unchanged = 1,

    Malformed = 2,
    BadSignature = 3,
    UntrustedSigner = 4,
    WrongNode = 5,

    /// <summary>An older epoch than the last good bundle (a replay or a rolled-back server).</summary>
    Stale = 6,

    /// <summary>Same epoch as the last good bundle but different content: refused, the first one stands.</summary>
    Conflicting = 7,

    /// <summary>A peer key is also on the bundle's own denylist, or a key revoked in the last good bundle is missing from the denylist.</summary>
    Inconsistent = 8,
}

/// <summary>
/// The node-side check of peer bundles: the signer chains to a trusted root, the signature is good,
/// the bundle is for this node, and its epoch is newer than the last good one. A refused bundle leaves
/// the last good bundle in place, so a node keeps working while the provisioner is down or replays
/// old answers. Revocation is sticky: keys on the last good denylist must stay on it.
/// </summary>
public sealed class PeerBundleVerifier
{
    private readonly IReadOnlyCollection<X509Certificate2> _roots;
    private readonly TimeProvider _time;

    /// <param name="trustedRoots">The roots of the <c>caBundle</c> the node holds.</param>
    /// <param name="nodeId">This node's id (bundles for other nodes are refused).</param>
    /// <param name="time">Clock for certificate validity.</param>
    /// <param name="lastGood">A bundle accepted earlier (for example kept on disk), re-verified by the caller.</param>
    public PeerBundleVerifier(IReadOnlyCollection<X509Certificate2> trustedRoots, string nodeId, TimeProvider time, PeerBundle? lastGood = null)
    {
        ArgumentNullException.ThrowIfNull(trustedRoots);
        _roots = trustedRoots;
        NodeId = nodeId;
        _time = time;
        Current = lastGood;
    }

    public string NodeId { get; }

    /// <summary>The last good bundle, or null before the first one.</summary>
    public PeerBundle? Current { get; private set; }

    /// <summary>The raw envelope of <see cref="Current"/> when it came through <see cref="Offer"/>.</summary>
    public SignedPeerBundle? CurrentSigned { get; private set; }

    /// <summary>Verifies <paramref name="signed"/> and makes it current if it is newer. <paramref name="problem"/> explains a refusal.</summary>
    public BundleVerdict Offer(SignedPeerBundle signed, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(signed);
        X509Certificate2 signer;
        try
        {
            signer = X509CertificateLoader.LoadCertificate(signed.SignerCertificate);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            problem = $"signer certificate unreadable: {e.Message}";
            return BundleVerdict.Malformed;
        }

        using (signer)
        {
            if (!MeshCertificateAuthority.ChainsToTrustedRoot(signer, _roots, _time.GetUtcNow(), out var why))
            {
                problem = $"signer {signer.Subject} does not chain to a trusted root: {why}";
                return BundleVerdict.UntrustedSigner;
            }

            if (!signer.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
            {
                problem = "signer is not a CA certificate";
                return BundleVerdict.UntrustedSigner;
            }
        }

        if (!signed.HasValidSignature())
        {
            problem = "signature does not match the payload";
            return BundleVerdict.BadSignature;
        }

        if (!PeerBundleCodec.TryRead(signed.Payload, out var bundle, out var error))
        {
            problem = error;
            return BundleVerdict.Malformed;
        }

        if (bundle!.NodeId != NodeId)
        {
            problem = $"bundle is for '{bundle.NodeId}', this node is '{NodeId}'";
            return BundleVerdict.WrongNode;
        }

        var denied = bundle.Revoked.Select(Convert.ToBase64String).ToHashSet(StringComparer.Ordinal);
        if (bundle.Peers.FirstOrDefault(p => denied.Contains(Convert.ToBase64String(p.PublicKey))) is { } bad)
        {
            problem = $"peer {bad.Name} is on the bundle's own denylist";
            return BundleVerdict.Inconsistent;
        }

        if (Current is { } last)
        {
            if (bundle.Epoch < last.Epoch)
            {
                problem = $"epoch {bundle.Epoch} is older than the current {last.Epoch}";
                return BundleVerdict.Stale;
            }

            if (bundle.Epoch == last.Epoch)
            {
                if (CurrentSigned is { } cs && cs.Payload.AsSpan().SequenceEqual(signed.Payload))
                {
                    problem = null;
                    return BundleVerdict.Unchanged;
                }

                problem = $"epoch {bundle.Epoch} again with different content";
                return BundleVerdict.Conflicting;
            }

            if (last.Revoked.Select(Convert.ToBase64String).FirstOrDefault(k => !denied.Contains(k)) is { } dropped)
            {
                problem = $"revoked key {dropped} left the denylist";
                return BundleVerdict.Inconsistent;
            }
        }

        Current = bundle;
        CurrentSigned = signed;
        problem = null;
        return BundleVerdict.Accepted;
    }
}
