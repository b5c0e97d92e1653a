using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// Validates an EK certificate against roots and intermediates from a local directory (air-gapped: no
/// AIA fetch, no revocation fetch) and checks that the certified key is the EK presented. The chain
/// must carry the EK certificate purpose (TCG OID 2.23.133.8.1) where the certificate states one.
/// </summary>
public sealed class EkCertificateValidator
{
    /// <summary>tcg-kp-EKCertificate (TCG EK Credential Profile, 3.2.16).</summary>
    public const string EkCertificatePurpose = "2.23.133.8.1";

    private readonly X509Certificate2Collection _roots;
    private readonly X509Certificate2Collection _intermediates;

    public EkCertificateValidator(X509Certificate2Collection roots, X509Certificate2Collection intermediates)
    {
        _roots = roots;
        _intermediates = intermediates;
    }

    /// <summary>
    /// Loads every certificate (*.pem, *.crt, *.cer, *.der) in <paramref name="directory"/>; self-signed ones
    /// become roots, the others intermediates.
    /// </summary>
    public static EkCertificateValidator FromDirectory(string directory)
    {
        var roots = new X509Certificate2Collection();
        var intermediates = new X509Certificate2Collection();
        foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
        {
            var ext = Path.GetExtension(file).ToUpperInvariant();
            if (ext is not (".PEM" or ".CRT" or ".CER" or ".DER"))
            {
                continue;
            }

            var collection = new X509Certificate2Collection();
            if (ext == ".PEM" || File.ReadAllText(file).Contains("-----BEGIN", StringComparison.Ordinal))
            {
                collection.ImportFromPemFile(file);
            }
            else
            {
                collection.Add(X509CertificateLoader.LoadCertificateFromFile(file));
            }

            foreach (var cert in collection)
            {
                (cert.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData) ? roots : intermediates).Add(cert);
            }
        }

        return new EkCertificateValidator(roots, intermediates);
    }

    /// <summary>Validates the chain and the key; throws <see cref="AttestationException"/> on failure.</summary>
    /// <remarks>
    /// <paramref name="presentedIntermediates"/> are certificates the node sent (its TPM's EK chain
    /// indices): they help build the path and are never trusted by themselves; the chain must still
    /// end at a root of the local directory.
    /// </remarks>
    public void Validate(X509Certificate2 certificate, TpmtPublic ek, DateTime? verificationTime = null, X509Certificate2Collection? presentedIntermediates = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.ExtraStore.AddRange(_intermediates);
        if (presentedIntermediates is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presentedIntermediates);
        }

        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = verificationTime ?? DateTime.Now;
        if (HasEku(certificate))
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(EkCertificatePurpose));
        }

        if (!chain.Build(certificate))
        {
            var reasons = string.Join("; ", chain.ChainStatus.Select(s => s.Status + " " + s.StatusInformation.Trim()));
            throw new AttestationException(AttestationFailure.EkCertificateUntrusted, reasons);
        }

        if (!KeyMatches(certificate, ek))
        {
            throw new AttestationException(AttestationFailure.EkCertificateKeyMismatch, "the certificate's public key is not the EK presented");
        }
    }

    /// <summary>True when the certificate's subject public key equals the EK's public key.</summary>
    public static bool KeyMatches(X509Certificate2 certificate, TpmtPublic ek)
    {
        switch (ek.Type)
        {
            case TpmAlgId.Rsa:
                {
                    using var rsa = certificate.GetRSAPublicKey();
                    if (rsa is null)
                    {
                        return false;
                    }

                    var p = rsa.ExportParameters(false);
                    var e = ek.RsaParameters();
                    return p.Modulus.AsSpan().SequenceEqual(e.Modulus) && p.Exponent.AsSpan().SequenceEqual(e.Exponent);
                }

            case TpmAlgId.Ecc:
                {
                    ECParameters p;
                    using (var ecdsa = certificate.GetECDsaPublicKey())
                    {
                        if (ecdsa is not null)
                        {
                            p = ecdsa.ExportParameters(false);
                        }
                        else
                        {
                            using var ecdh = certificate.GetECDiffieHellmanPublicKey();
                            if (ecdh is null)
                            {
                                return false;
                            }

                            p = ecdh.ExportParameters(false);
                        }
                    }

                    return p.Curve.Oid.Value == ek.EcCurve().Oid.Value
                        && p.Q.X.AsSpan().SequenceEqual(ek.EccX) && p.Q.Y.AsSpan().SequenceEqual(ek.EccY);
                }

            default:
                return false;
        }
    }

    private static bool HasEku(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Any(x => x.EnhancedKeyUsages[EkCertificatePurpose] is not null);
}
