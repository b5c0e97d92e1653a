using System.Formats.Asn1;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Kldload.MeshCA.Authority;

/// <summary>
/// The mesh certificate authority: an ECDSA P-256 root and a site intermediate. The provisioner holds
/// only the intermediate's private key (the root may stay offline: it is needed again only to sign a
/// new intermediate). Node certificates bind a node id, its X25519 WireGuard key, its EK fingerprint
/// and its mesh addresses; peer bundles are signed with the intermediate key.
/// </summary>
/// <remarks>
/// The material lives in an <see cref="ICaMaterialStore"/>: a directory of PEM files
/// (<see cref="CaDirectoryStore"/>) or a database shared by several provisioners, keys sealed. The
/// trusted roots may be several during a rotation (add the new root, let nodes pick up the new
/// caBundle, then import the intermediate signed by it, then drop the old root).
/// </remarks>
public sealed class MeshCertificateAuthority : IDisposable
{
    public const string RootCertificateFile = "root.pem";
    public const string RootKeyFile = "root.key.pem";
    public const string IntermediateCertificateFile = "intermediate.pem";
    public const string IntermediateKeyFile = "intermediate.key.pem";
    public const string TrustFile = "trust.pem";

    /// <summary>OID of X25519 keys (RFC 8410 section 3): id-X25519, no parameters.</summary>
    public const string X25519Oid = "1.3.101.110";

    /// <summary>Allowed clock skew: certificates start this much before now.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    private readonly ECDsa _intermediateKey;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private List<X509Certificate2> _roots;

    private readonly ICaMaterialStore _store;

    private MeshCertificateAuthority(ICaMaterialStore store, X509Certificate2 intermediate, ECDsa intermediateKey, List<X509Certificate2> roots, TimeProvider time)
    {
        _store = store;
        Intermediate = intermediate;
        _intermediateKey = intermediateKey;
        _roots = roots;
        _time = time;
    }

    /// <summary>Where the material is kept (<see cref="ICaMaterialStore.Location"/>), for messages.</summary>
    public string Location => _store.Location;

    /// <summary>The issuing intermediate (public part only).</summary>
    public X509Certificate2 Intermediate { get; }

    /// <summary>Every trusted root, oldest first.</summary>
    public IReadOnlyList<X509Certificate2> TrustedRoots
    {
        get
        {
            lock (_gate)
            {
                return [.. _roots];
            }
        }
    }

    /// <summary>PEM of every trusted root followed by the intermediate: what nodes get as <c>caBundle</c>.</summary>
    public string CaBundlePem
    {
        get
        {
            var sb = new StringBuilder();
            foreach (var root in TrustedRoots)
            {
                sb.Append(root.ExportCertificatePem()).Append('\n');
            }

            sb.Append(Intermediate.ExportCertificatePem()).Append('\n');
            return sb.ToString();
        }
    }

    /// <summary>
    /// Opens the CA in <paramref name="directory"/>, or creates a root and an intermediate there on first
    /// start. <paramref name="siteName"/> appears in the subjects.
    /// </summary>
    public static MeshCertificateAuthority OpenOrCreate(string directory, string siteName, TimeProvider time) =>
        OpenOrCreate(new CaDirectoryStore(directory), siteName, time);

    /// <summary>
    /// Opens the CA in <paramref name="store"/>, or generates a root and an intermediate and stores them
    /// if the store holds none; when another provisioner stored one first, that one is used.
    /// </summary>
    public static MeshCertificateAuthority OpenOrCreate(ICaMaterialStore store, string siteName, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        var material = store.Load() ?? store.AddIfAbsent(Generate(siteName, time));
        return FromMaterial(store, material, time);
    }

    /// <summary>Opens an existing CA directory; throws <see cref="InvalidDataException"/> naming the broken file.</summary>
    public static MeshCertificateAuthority Open(string directory, TimeProvider time) => Open(new CaDirectoryStore(directory), time);

    /// <summary>Opens the CA stored in <paramref name="store"/>; throws <see cref="InvalidDataException"/> when there is none or it is broken.</summary>
    public static MeshCertificateAuthority Open(ICaMaterialStore store, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        var material = store.Load() ?? throw new InvalidDataException($"{store.Location} holds no mesh CA");
        return FromMaterial(store, material, time);
    }

    /// <summary>
    /// Generates a root and a site intermediate (not stored): <paramref name="siteName"/> appears in
    /// the subjects. The root key is kept in the material; move it offline once the CA is set up.
    /// </summary>
    public static CaMaterial Generate(string siteName, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        var now = time.GetUtcNow();
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootName = Name($"kldload mesh root {siteName} {now:yyyy-MM-dd}");
        var rootRequest = new CertificateRequest(rootName, rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(now - Backdate, now.AddYears(20));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest(Name($"kldload mesh {siteName}"), intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        // digitalSignature: the intermediate also signs peer bundles.
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var intermediate = intermediateRequest.Create(root, now - Backdate, now.AddYears(10), NewSerial());

        var rootPem = root.ExportCertificatePem() + "\n";
        return new CaMaterial
        {
            IntermediateCertificatePem = intermediate.ExportCertificatePem() + "\n",
            IntermediateKeyPem = intermediateKey.ExportPkcs8PrivateKeyPem(),
            TrustedRootsPem = rootPem,
            RootCertificatePem = rootPem,
            RootKeyPem = rootKey.ExportPkcs8PrivateKeyPem(),
        };
    }

    /// <summary>
    /// Imports an intermediate made elsewhere (its root kept offline): writes the intermediate, its key
    /// and the trusted roots into <paramref name="directory"/> and opens the CA. The intermediate must
    /// chain to one of <paramref name="trustedRootsPem"/>.
    /// </summary>
    public static MeshCertificateAuthority Import(string directory, string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem, TimeProvider time) =>
        Import(new CaDirectoryStore(directory), intermediateCertificatePem, intermediateKeyPem, trustedRootsPem, time);

    /// <summary>
    /// Imports an intermediate made elsewhere (its root kept offline) into <paramref name="store"/> and
    /// opens the CA. The intermediate must chain to one of <paramref name="trustedRootsPem"/>.
    /// </summary>
    public static MeshCertificateAuthority Import(ICaMaterialStore store, string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        var intermediate = X509Certificate2.CreateFromPem(intermediateCertificatePem);
        using var key = ECDsa.Create();
        key.ImportFromPem(intermediateKeyPem);
        if (!SamePublicKey(intermediate, key))
        {
            throw new InvalidDataException("the intermediate key does not belong to the intermediate certificate");
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(trustedRootsPem);
        if (roots.Count == 0)
        {
            throw new InvalidDataException("no trusted roots given");
        }

        if (!ChainsToTrustedRoot(intermediate, [.. roots], time.GetUtcNow(), out var why))
        {
            throw new InvalidDataException($"the intermediate does not chain to the given roots: {why}");
        }

        store.ReplaceIntermediate(intermediate.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem(), ToPem(roots));
        return Open(store, time);
    }

    /// <summary>Adds a root to the trust bundle (first step of a root rotation). Returns false if already trusted.</summary>
    public bool AddTrustedRoot(X509Certificate2 root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!IsSelfSignedCa(root))
        {
            throw new ArgumentException("a trusted root must be a self-signed CA certificate", nameof(root));
        }

        lock (_gate)
        {
            if (_roots.Any(r => r.RawDataMemory.Span.SequenceEqual(root.RawDataMemory.Span)))
            {
                return false;
            }

            _roots = [.. _roots, X509CertificateLoader.LoadCertificate(root.RawData)];
            _store.SaveTrustedRoots(ToPem(_roots));
            return true;
        }
    }

    /// <summary>Removes a root (last step of a rotation). The root that issued the current intermediate cannot be removed.</summary>
    public bool RemoveTrustedRoot(string thumbprint)
    {
        lock (_gate)
        {
            var victim = _roots.FirstOrDefault(r => string.Equals(r.Thumbprint, thumbprint, StringComparison.OrdinalIgnoreCase));
            if (victim is null)
            {
                return false;
            }

            var rest = _roots.Where(r => r != victim).ToList();
            if (!ChainsToTrustedRoot(Intermediate, rest, _time.GetUtcNow(), out _))
            {
                throw new InvalidOperationException("that root issued the current intermediate: import an intermediate from the new root first");
            }

            _roots = rest;
            _store.SaveTrustedRoots(ToPem(_roots));
            return true;
        }
    }

    /// <summary>
    /// Issues a node certificate: subject <c>O=kldload, OU=mesh, CN=&lt;node id&gt;</c>, SubjectPublicKeyInfo
    /// the node's X25519 key (RFC 8410), SANs the mesh addresses, <c>urn:kldload:node:&lt;id&gt;</c> and
    /// <c>urn:kldload:ek-sha256:&lt;hex&gt;</c>, valid for <paramref name="lifetime"/> (never past the intermediate).
    /// </summary>
    public X509Certificate2 Issue(NodeIdentity identity, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var errors = identity.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(identity));
        }

        if (lifetime <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), "the certificate lifetime must be positive");
        }

        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("kldload");
        subject.AddOrganizationalUnitName("mesh");
        subject.AddCommonName(identity.NodeId);

        var publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(X25519SubjectPublicKeyInfo(identity.WireGuardPublicKey), out _);
        var request = new CertificateRequest(subject.Build(), publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        // RFC 8410 section 5: an X25519 key may only be used for key agreement.
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, true, false));

        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(identity.Address6);
        if (identity.Address4 is { AddressFamily: AddressFamily.InterNetwork } v4)
        {
            san.AddIpAddress(v4);
        }

        san.AddUri(new Uri($"urn:kldload:node:{identity.NodeId}"));
        san.AddUri(new Uri($"urn:kldload:ek-sha256:{EkFingerprint.ToHex(identity.EkSha256)}"));
        request.CertificateExtensions.Add(san.Build(false));

        var now = _time.GetUtcNow();
        var notAfter = now + lifetime;
        if (notAfter > Intermediate.NotAfter.ToUniversalTime())
        {
            notAfter = Intermediate.NotAfter.ToUniversalTime();
        }

        var generator = X509SignatureGenerator.CreateForECDsa(_intermediateKey);
        return request.Create(Intermediate.SubjectName, generator, now - Backdate, notAfter, NewSerial());
    }

    /// <summary>ECDSA P-256 / SHA-256 signature over <paramref name="data"/> with the intermediate key, DER-encoded (RFC 3279), as <c>openssl dgst -verify</c> reads it.</summary>
    public byte[] SignData(ReadOnlySpan<byte> data) =>
        _intermediateKey.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    /// <summary>The DER SubjectPublicKeyInfo of an X25519 key (RFC 8410 section 4): algorithm id-X25519, parameters absent.</summary>
    public static byte[] X25519SubjectPublicKeyInfo(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != WireGuardKey.Length)
        {
            throw new ArgumentException("an X25519 public key is 32 bytes", nameof(publicKey));
        }

        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence())
            {
                w.WriteObjectIdentifier(X25519Oid);
            }

            w.WriteBitString(publicKey);
        }

        return w.Encode();
    }

    /// <summary>
    /// The trust anchors in a <c>caBundle</c> (roots and intermediate): only the self-signed CA
    /// certificates. A node builds its <see cref="Distribution.PeerBundleVerifier"/> from these.
    /// </summary>
    public static IReadOnlyList<X509Certificate2> RootsOf(string caBundlePem)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPem(caBundlePem);
        return [.. all.Where(IsSelfSignedCa)];
    }

    /// <summary>PEM of several certificates, one after another.</summary>
    public static string ToPem(IEnumerable<X509Certificate2> certificates)
    {
        var sb = new StringBuilder();
        foreach (var c in certificates)
        {
            sb.Append(c.ExportCertificatePem()).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>True when <paramref name="leafOrIntermediate"/> chains to one of <paramref name="roots"/> at <paramref name="when"/>.</summary>
    public static bool ChainsToTrustedRoot(X509Certificate2 leafOrIntermediate, IReadOnlyCollection<X509Certificate2> roots, DateTimeOffset when, out string problem, X509Certificate2? intermediate = null)
    {
        ArgumentNullException.ThrowIfNull(leafOrIntermediate);
        ArgumentNullException.ThrowIfNull(roots);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = when.UtcDateTime;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        foreach (var root in roots)
        {
            chain.ChainPolicy.CustomTrustStore.Add(root);
        }
        if (intermediate is not null)
        {
            chain.ChainPolicy.ExtraStore.Add(intermediate);
        }

        if (chain.Build(leafOrIntermediate))
        {
            problem = "";
            return true;
        }

        problem = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted"));
        return false;
    }

    public void Dispose()
    {
        _intermediateKey.Dispose();
        Intermediate.Dispose();
    }

    private static MeshCertificateAuthority FromMaterial(ICaMaterialStore store, CaMaterial material, TimeProvider time)
    {
        var where = store.Location;
        var intermediate = LoadCertificate(material.IntermediateCertificatePem, $"{where}: {IntermediateCertificateFile}");
        var key = LoadKey(material.IntermediateKeyPem, $"{where}: {IntermediateKeyFile}");
        var roots = LoadTrust(material.TrustedRootsPem, $"{where}: {TrustFile}");
        if (!SamePublicKey(intermediate, key))
        {
            key.Dispose();
            throw new InvalidDataException($"{IntermediateKeyFile} does not belong to {IntermediateCertificateFile} in {where}");
        }

        if (!ChainsToTrustedRoot(intermediate, roots, time.GetUtcNow(), out var why))
        {
            key.Dispose();
            throw new InvalidDataException($"{IntermediateCertificateFile} in {where} does not chain to a root in {TrustFile}: {why}");
        }

        return new MeshCertificateAuthority(store, intermediate, key, roots, time);
    }

    private static X500DistinguishedName Name(string commonName)
    {
        var b = new X500DistinguishedNameBuilder();
        b.AddOrganizationName("kldload");
        b.AddCommonName(commonName);
        return b.Build();
    }

    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive INTEGER (RFC 5280 section 4.1.2.2)
        serial[0] |= 0x01; // and no leading zero octet to strip
        return serial;
    }

    private static X509Certificate2 LoadCertificate(string pem, string what)
    {
        try
        {
            return X509Certificate2.CreateFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{what}: not a PEM certificate: {e.Message}", e);
        }
    }

    private static ECDsa LoadKey(string pem, string what)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new InvalidDataException($"{what}: not a PEM EC private key: {e.Message}", e);
        }
    }

    private static List<X509Certificate2> LoadTrust(string pem, string path)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        if (roots.Count == 0)
        {
            throw new InvalidDataException($"{path}: no certificates");
        }

        return [.. roots];
    }

    private static bool SamePublicKey(X509Certificate2 certificate, ECDsa key)
    {
        using var certKey = certificate.GetECDsaPublicKey();
        return certKey is not null && certKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo());
    }

    private static bool IsSelfSignedCa(X509Certificate2 c) =>
        c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)
        && c.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);
}
