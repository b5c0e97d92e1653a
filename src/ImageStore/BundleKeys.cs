using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Kldload.ImageStore;

/// <summary>Signature algorithms a bundle may be signed with; the text names appear in <c>bundle.sig</c>.</summary>
public enum BundleSignatureAlgorithm : byte
{
    /// <summary>Ed25519 (RFC 8032), "ed25519".</summary>
    Ed25519 = 1,

    /// <summary>ECDSA over P-256 with SHA-256, signature as r||s (IEEE P1363), "ecdsa-p256-sha256".</summary>
    EcdsaP256Sha256 = 2,
}

/// <summary>Text names of <see cref="BundleSignatureAlgorithm"/>.</summary>
public static class BundleSignatureAlgorithmNames
{
    public static string ToText(BundleSignatureAlgorithm a) => a switch
    {
        BundleSignatureAlgorithm.Ed25519 => "ed25519",
        BundleSignatureAlgorithm.EcdsaP256Sha256 => "ecdsa-p256-sha256",
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    public static BundleSignatureAlgorithm? FromText(string? text) => text switch
    {
        "ed25519" => BundleSignatureAlgorithm.Ed25519,
        "ecdsa-p256-sha256" => BundleSignatureAlgorithm.EcdsaP256Sha256,
        _ => null,
    };
}

/// <summary>
/// A public key that may sign bundles, read from a PEM <c>PUBLIC KEY</c> (SubjectPublicKeyInfo)
/// file. Its id is the SHA-256 of the DER SubjectPublicKeyInfo, which <c>bundle.sig</c> names.
/// </summary>
public sealed class BundlePublicKey
{
    private readonly PublicKey? _ed25519;
    private readonly ECParameters? _ecdsa;

    private BundlePublicKey(BundleSignatureAlgorithm algorithm, string id, string source, PublicKey? ed25519, ECParameters? ecdsa)
    {
        Algorithm = algorithm;
        Id = id;
        Source = source;
        _ed25519 = ed25519;
        _ecdsa = ecdsa;
    }

    public BundleSignatureAlgorithm Algorithm { get; }

    /// <summary>Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.</summary>
    public string Id { get; }

    /// <summary>Where the key came from (a file path).</summary>
    public string Source { get; }

    /// <summary>Parses a PEM public key (Ed25519 or ECDSA P-256); null with the reason when it is neither.</summary>
    public static BundlePublicKey? TryParsePem(string pem, string source, out string? error)
    {
        error = null;
        var bytes = Encoding.ASCII.GetBytes(pem);
        if (PublicKey.TryImport(SignatureAlgorithm.Ed25519, bytes, KeyBlobFormat.PkixPublicKeyText, out var ed))
        {
            var der = ed!.Export(KeyBlobFormat.PkixPublicKey);
            return new BundlePublicKey(BundleSignatureAlgorithm.Ed25519, Convert.ToHexStringLower(SHA256.HashData(der)), source, ed, null);
        }

        try
        {
            using var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            var p = ec.ExportParameters(false);
            if (p.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                error = $"{source}: ECDSA key is not on P-256";
                return null;
            }

            var der = ec.ExportSubjectPublicKeyInfo();
            return new BundlePublicKey(BundleSignatureAlgorithm.EcdsaP256Sha256, Convert.ToHexStringLower(SHA256.HashData(der)), source, null, p);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            error = $"{source}: not an Ed25519 or ECDSA P-256 public key in PEM form ({e.Message.TrimEnd('.')})";
            return null;
        }
    }

    /// <summary>Checks a signature over <paramref name="data"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (_ed25519 is not null)
        {
            return SignatureAlgorithm.Ed25519.Verify(_ed25519, data, signature);
        }

        using var ec = ECDsa.Create(_ecdsa!.Value);
        return ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}

/// <summary>
/// The public keys in the trusted-keys directory (<c>Images:TrustedKeysDir</c>): every <c>*.pub</c>
/// and <c>*.pem</c> file holding an Ed25519 or ECDSA P-256 public key. A bundle imports only when
/// one of them verifies its signature.
/// </summary>
public sealed class TrustedKeys
{
    private readonly Dictionary<string, BundlePublicKey> _byId;

    private TrustedKeys(string directory, Dictionary<string, BundlePublicKey> byId, IReadOnlyList<string> problems)
    {
        Directory = directory;
        _byId = byId;
        Problems = problems;
    }

    public string Directory { get; }

    /// <summary>Files that could not be read as keys (reported, not fatal).</summary>
    public IReadOnlyList<string> Problems { get; }

    public IReadOnlyCollection<BundlePublicKey> Keys => _byId.Values;

    public static TrustedKeys Load(string directory)
    {
        var byId = new Dictionary<string, BundlePublicKey>(StringComparer.Ordinal);
        var problems = new List<string>();
        if (System.IO.Directory.Exists(directory))
        {
            foreach (var path in System.IO.Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
            {
                if (!path.EndsWith(".pub", StringComparison.Ordinal) && !path.EndsWith(".pem", StringComparison.Ordinal))
                {
                    continue;
                }

                var key = BundlePublicKey.TryParsePem(File.ReadAllText(path), path, out var error);
                if (key is null)
                {
                    problems.Add(error!);
                    continue;
                }

                byId.TryAdd(key.Id, key);
            }
        }

        return new TrustedKeys(directory, byId, problems);
    }

    public BundlePublicKey? Find(string id) => _byId.GetValueOrDefault(id);
}

/// <summary>A private key that signs bundles, read from a PEM <c>PRIVATE KEY</c> (PKCS#8) file.</summary>
public sealed class BundleSigningKey : IDisposable
{
    private readonly Key? _ed25519;
    private readonly ECDsa? _ecdsa;

    private BundleSigningKey(BundleSignatureAlgorithm algorithm, string id, Key? ed25519, ECDsa? ecdsa)
    {
        Algorithm = algorithm;
        Id = id;
        _ed25519 = ed25519;
        _ecdsa = ecdsa;
    }

    public BundleSignatureAlgorithm Algorithm { get; }

    /// <summary>Id of the matching public key (SHA-256 of its DER SubjectPublicKeyInfo).</summary>
    public string Id { get; }

    /// <summary>Reads a PEM private key file: Ed25519 or ECDSA P-256.</summary>
    public static BundleSigningKey Load(string path)
    {
        var pem = File.ReadAllText(path);
        var bytes = Encoding.ASCII.GetBytes(pem);
        if (Key.TryImport(SignatureAlgorithm.Ed25519, bytes, KeyBlobFormat.PkixPrivateKeyText, out var ed))
        {
            var der = ed!.PublicKey.Export(KeyBlobFormat.PkixPublicKey);
            return new BundleSigningKey(BundleSignatureAlgorithm.Ed25519, Convert.ToHexStringLower(SHA256.HashData(der)), ed, null);
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            if (ec.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                throw new BundleException($"signing key {path}: ECDSA key is not on P-256");
            }

            return new BundleSigningKey(BundleSignatureAlgorithm.EcdsaP256Sha256, Convert.ToHexStringLower(SHA256.HashData(ec.ExportSubjectPublicKeyInfo())), null, ec);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            ec.Dispose();
            throw new BundleException($"signing key {path}: not an Ed25519 or ECDSA P-256 private key in PEM form");
        }
    }

    /// <summary>Creates a new Ed25519 key pair; returns the private and public PEM texts.</summary>
    public static (string PrivatePem, string PublicPem) CreateEd25519()
    {
        using var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return (Encoding.ASCII.GetString(key.Export(KeyBlobFormat.PkixPrivateKeyText)), Encoding.ASCII.GetString(key.PublicKey.Export(KeyBlobFormat.PkixPublicKeyText)));
    }

    public byte[] Sign(ReadOnlySpan<byte> data)
        => _ed25519 is not null
            ? SignatureAlgorithm.Ed25519.Sign(_ed25519, data)
            : _ecdsa!.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public void Dispose()
    {
        _ed25519?.Dispose();
        _ecdsa?.Dispose();
    }
}
