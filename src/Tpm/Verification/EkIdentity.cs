using System.Security.Cryptography;
using Kldload.Tpm.Device;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// Who an EK is: its public key, not the bytes of its public area. A TPMT_PUBLIC carries fields the
/// TPM does not use to activate a credential (authPolicy, most attributes), so hashing the whole
/// structure lets one TPM present any number of "different" EKs. The identity is therefore
/// SHA-256 of the key's X.509 SubjectPublicKeyInfo (RSA modulus and exponent, or ECC curve and
/// point), the same value a certificate's key hashes to.
/// </summary>
public static class EkIdentity
{
    private const TpmaObject RequiredAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.SensitiveDataOrigin
        | TpmaObject.AdminWithPolicy | TpmaObject.Restricted | TpmaObject.Decrypt;

    /// <summary>SHA-256 of the EK's SubjectPublicKeyInfo, lowercase hex. Call <see cref="Validate"/> first.</summary>
    public static string Fingerprint(TpmtPublic ek)
    {
        ArgumentNullException.ThrowIfNull(ek);
        return Convert.ToHexStringLower(SHA256.HashData(SubjectPublicKeyInfo(ek)));
    }

    /// <summary>The EK's public key as DER SubjectPublicKeyInfo.</summary>
    public static byte[] SubjectPublicKeyInfo(TpmtPublic ek)
    {
        ArgumentNullException.ThrowIfNull(ek);
        try
        {
            switch (ek.Type)
            {
                case TpmAlgId.Rsa:
                    {
                        using var rsa = RSA.Create(ek.RsaParameters());
                        return rsa.ExportSubjectPublicKeyInfo();
                    }

                case TpmAlgId.Ecc:
                    {
                        using var ecdh = ECDiffieHellman.Create(ek.EcParameters());
                        return ecdh.ExportSubjectPublicKeyInfo();
                    }

                default:
                    throw new AttestationException(AttestationFailure.EkUnsupported, $"EK type 0x{(ushort)ek.Type:x4} is neither RSA nor ECC");
            }
        }
        catch (Exception e) when (e is CryptographicException or NotSupportedException or ArgumentException)
        {
            throw new AttestationException(AttestationFailure.EkUnsupported, $"the EK's public key is not usable: {e.Message}");
        }
    }

    /// <summary>
    /// Checks that <paramref name="ek"/> is an EK kldload can protect a credential to (SHA-256 or
    /// SHA-384 name algorithm, AES-CFB, RSA 2048-4096 with exponent 65537, or a valid point on P-256
    /// or P-384) and that it carries the TCG EK template's attributes and one of its policies
    /// (EK Credential Profile 2.5, 2.2.1: PolicyA for the low range, PolicyB for the high range).
    /// An EK that differs from the template is accepted only when <paramref name="certificateVouches"/>:
    /// a certificate whose key is this EK's key was presented (and checked by the caller).
    /// </summary>
    public static void Validate(TpmtPublic ek, bool certificateVouches)
    {
        ArgumentNullException.ThrowIfNull(ek);
        if (ek.NameAlg is not (TpmAlgId.Sha256 or TpmAlgId.Sha384))
        {
            throw new AttestationException(AttestationFailure.EkUnsupported, $"EK nameAlg 0x{(ushort)ek.NameAlg:x4}: only SHA-256 and SHA-384 are accepted");
        }

        if (ek.Symmetric.Algorithm != TpmAlgId.Aes || ek.Symmetric.Mode != TpmAlgId.Cfb || ek.Symmetric.KeyBits is not (128 or 256))
        {
            throw new AttestationException(AttestationFailure.EkUnsupported, "EK symmetric definition is not AES-128-CFB or AES-256-CFB");
        }

        switch (ek.Type)
        {
            case TpmAlgId.Rsa:
                if (ek.RsaKeyBits is < 2048 or > 4096 || ek.Unique.Length * 8 != ek.RsaKeyBits || (ek.Unique[0] & 0x80) == 0)
                {
                    throw new AttestationException(AttestationFailure.EkUnsupported, $"EK is RSA-{ek.RsaKeyBits} with a {ek.Unique.Length}-byte modulus: 2048 to 4096 bits, full length, are accepted");
                }

                if (ek.RsaExponent is not (0 or 65537))
                {
                    throw new AttestationException(AttestationFailure.EkUnsupported, $"EK RSA exponent {ek.RsaExponent}: only 65537 is accepted");
                }

                break;
            case TpmAlgId.Ecc:
                var size = ek.Curve switch
                {
                    TpmEccCurve.NistP256 => 32,
                    TpmEccCurve.NistP384 => 48,
                    _ => throw new AttestationException(AttestationFailure.EkUnsupported, $"EK curve 0x{(ushort)ek.Curve:x4}: only NIST P-256 and P-384 are accepted"),
                };
                if (ek.EccX.Length != size || ek.EccY.Length != size)
                {
                    throw new AttestationException(AttestationFailure.EkUnsupported, $"EK point coordinates are {ek.EccX.Length} and {ek.EccY.Length} bytes, not {size}");
                }

                break;
            default:
                throw new AttestationException(AttestationFailure.EkUnsupported, $"EK type 0x{(ushort)ek.Type:x4} is neither RSA nor ECC");
        }

        // Importing the key checks the point is on the curve (an invalid point would leak the
        // ephemeral key's residue in MakeCredential's ECDH).
        _ = SubjectPublicKeyInfo(ek);

        if (certificateVouches)
        {
            return;
        }

        if ((ek.ObjectAttributes & RequiredAttributes) != RequiredAttributes || (ek.ObjectAttributes & TpmaObject.Sign) != 0)
        {
            throw new AttestationException(AttestationFailure.EkTemplateMismatch,
                $"EK attributes 0x{(uint)ek.ObjectAttributes:x8} are not the TCG EK template's (fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy, restricted, decrypt; not sign), and no EK certificate vouches for the key");
        }

        var policy = ek.AuthPolicy.AsSpan();
        var known = policy.SequenceEqual(TpmTemplates.PolicyASha256) || policy.SequenceEqual(TpmTemplates.PolicyBSha256) || policy.SequenceEqual(TpmTemplates.PolicyBSha384);
        if (!known)
        {
            throw new AttestationException(AttestationFailure.EkTemplateMismatch,
                "EK authPolicy is none of the TCG EK template policies (PolicyA, PolicyB), and no EK certificate vouches for the key");
        }
    }
}
