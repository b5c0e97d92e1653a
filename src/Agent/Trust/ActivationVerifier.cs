using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Kldload.Contracts;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;

namespace Kldload.Agent.Trust;

/// <summary>Which check of an activate answer failed.</summary>
internal enum TrustFailure : byte
{
    /// <summary>No certificate, caBundle or peerBundle: nothing to verify a mesh configuration with.</summary>
    Incomplete = 1,
    CaBundleUnreadable = 2,

    /// <summary>The node certificate does not chain to a root of the caBundle.</summary>
    NodeCertificateUntrusted = 3,

    /// <summary>The node certificate certifies another WireGuard key, or is not a node certificate.</summary>
    NodeCertificateMismatch = 4,

    /// <summary><see cref="PeerBundleVerifier"/> refused the bundle (signer outside the CA, bad signature, other node, stale...).</summary>
    PeerBundleRefused = 5,

    /// <summary>The bundle asks for another key epoch than the one the node derived its key at.</summary>
    KeyEpochMismatch = 6,

    /// <summary>The verified bundle gives the node no IPv6 mesh address.</summary>
    NoMeshAddress = 7,
}

/// <summary>An activate answer that fails verification: nothing of it may be applied.</summary>
internal sealed class ProvisionerUntrustedException(TrustFailure failure, string message) : Exception(message)
{
    public TrustFailure Failure { get; } = failure;
}

/// <summary>
/// What survived verification: the bundle (signed by the CA), the configuration rendered from it, and
/// the SHA-256 of the DER SubjectPublicKeyInfo of the mesh root that vouched for both, which the
/// caller compares with the pin. <see cref="NodeId"/> is the inventory id of the (unsigned) answer;
/// <see cref="MeshIdentity"/> the id the CA certified, which differs after <c>kldload nodes replace</c>
/// (the new hardware carries the old node's mesh identity).
/// </summary>
internal sealed record VerifiedActivation(
    string NodeId,
    string MeshIdentity,
    PeerBundle Bundle,
    byte[] CaKeySha256,
    string CaSubject,
    MeshConfiguration Mesh,
    bool OfferedConfigurationDiffers);

/// <summary>
/// Checks an activate answer before the node applies any of it (issue 13, attack 7): the node
/// certificate chains to a root in <c>caBundle</c> and certifies this node's WireGuard key; the signed
/// peer bundle passes <see cref="PeerBundleVerifier"/> with that same root as the only anchor, is for
/// the mesh identity the certificate names, and asks for the key epoch the node derived; the WireGuard configuration is rendered
/// from the verified bundle, never taken from the unsigned <c>wireguardConfig</c> text. Decides only;
/// pinning is the caller's step.
/// </summary>
internal static class ActivationVerifier
{
    public static VerifiedActivation Verify(ActivateResponse activation, byte[] wireGuardPublicKey, uint keyEpoch, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(activation);
        ArgumentNullException.ThrowIfNull(wireGuardPublicKey);
        ArgumentNullException.ThrowIfNull(time);
        if (string.IsNullOrEmpty(activation.Certificate) || string.IsNullOrEmpty(activation.CaBundle) || activation.PeerBundle is not { } bundleJson)
        {
            throw new ProvisionerUntrustedException(TrustFailure.Incomplete,
                "activate answered without certificate, caBundle or peerBundle: a mesh configuration without them cannot be verified");
        }

        var all = new X509Certificate2Collection();
        X509Certificate2 node;
        try
        {
            all.ImportFromPem(activation.CaBundle);
            node = X509Certificate2.CreateFromPem(activation.Certificate);
        }
        catch (CryptographicException e)
        {
            throw new ProvisionerUntrustedException(TrustFailure.CaBundleUnreadable, $"caBundle or certificate is not PEM certificates: {e.Message}");
        }

        using (node)
        {
            var roots = all.Where(IsSelfSignedCa).ToList();
            var root = ChainRoot(node, roots, [.. all.Where(c => !IsSelfSignedCa(c))], time.GetUtcNow());
            var meshIdentity = CheckNodeCertificate(node, wireGuardPublicKey);
            var caKey = SHA256.HashData(root.PublicKey.ExportSubjectPublicKeyInfo());

            if (!SignedPeerBundle.TryParse(Encoding.UTF8.GetBytes(bundleJson.GetRawText()), out var signed, out var envelopeError))
            {
                throw new ProvisionerUntrustedException(TrustFailure.PeerBundleRefused, $"peer bundle refused: {envelopeError}");
            }

            // The bundle must be vouched for by the root that vouched for the certificate: the one to be pinned.
            // No last good bundle: the agent's state lives in RAM for one boot, and it activates once per boot.
            var check = new PeerBundleVerifier([root], meshIdentity, time);
            var verdict = check.Offer(signed!, out var problem);
            if (verdict is not (BundleVerdict.Accepted or BundleVerdict.Unchanged))
            {
                throw new ProvisionerUntrustedException(TrustFailure.PeerBundleRefused, $"peer bundle refused ({verdict}): {problem}");
            }

            var bundle = check.Current!;
            if (bundle.KeyEpoch != keyEpoch)
            {
                throw new ProvisionerUntrustedException(TrustFailure.KeyEpochMismatch,
                    $"the peer bundle is for WireGuard key epoch {bundle.KeyEpoch}, the node derived its key at epoch {keyEpoch}");
            }

            var mesh = MeshConfiguration.FromBundle(bundle, out var meshError)
                ?? throw new ProvisionerUntrustedException(TrustFailure.NoMeshAddress, $"the signed peer bundle is unusable: {meshError}");
            var differs = activation.WireguardConfig is { } offered && offered != WireGuardConfigRenderer.RenderWgQuick(bundle);
            return new VerifiedActivation(activation.NodeId, meshIdentity, bundle, caKey, root.Subject, mesh, differs);
        }
    }

    private static X509Certificate2 ChainRoot(X509Certificate2 node, List<X509Certificate2> roots, X509Certificate2[] intermediates, DateTimeOffset now)
    {
        if (roots.Count == 0)
        {
            throw new ProvisionerUntrustedException(TrustFailure.CaBundleUnreadable, "caBundle holds no self-signed root");
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        if (!chain.Build(node))
        {
            var why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted"));
            throw new ProvisionerUntrustedException(TrustFailure.NodeCertificateUntrusted, $"the node certificate does not chain to a root of caBundle: {why}");
        }

        var top = chain.ChainElements[^1].Certificate;
        return roots.First(r => r.RawData.AsSpan().SequenceEqual(top.RawData));
    }

    /// <summary>Checks the certificate is an end-entity certificate of this node's key; returns the mesh identity it certifies (its CN).</summary>
    private static string CheckNodeCertificate(X509Certificate2 node, byte[] wireGuardPublicKey)
    {
        if (node.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
        {
            throw new ProvisionerUntrustedException(TrustFailure.NodeCertificateMismatch, "the node certificate is a CA certificate");
        }

        var expected = MeshCertificateAuthority.X25519SubjectPublicKeyInfo(wireGuardPublicKey);
        if (!node.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(expected))
        {
            throw new ProvisionerUntrustedException(TrustFailure.NodeCertificateMismatch, "the node certificate certifies another key than this node's WireGuard key");
        }

        var cn = node.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return NodeIdentity.IsValidNodeId(cn)
            ? cn
            : throw new ProvisionerUntrustedException(TrustFailure.NodeCertificateMismatch, $"the node certificate's CN '{cn}' is not a node id");
    }

    private static bool IsSelfSignedCa(X509Certificate2 c) =>
        c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)
        && c.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);
}
