using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// What an attestation key must be before its quotes mean anything: fixedTPM, fixedParent,
/// sensitiveDataOrigin (generated inside this TPM, never exported), restricted and sign (it signs only
/// digests the TPM produced itself, so it cannot sign a forged TPMS_ATTEST), and not decrypt.
/// ActivateCredential does not check these attributes, so the verifier must.
/// </summary>
public static class AkPolicy
{
    /// <summary>Throws <see cref="AttestationException"/> naming the first attribute that is wrong.</summary>
    public static void Validate(TpmtPublic ak)
    {
        var a = ak.ObjectAttributes;
        Require(a.HasFlag(TpmaObject.FixedTpm), AttestationFailure.AkNotFixedTpm, "fixedTPM is clear");
        Require(a.HasFlag(TpmaObject.FixedParent), AttestationFailure.AkNotFixedParent, "fixedParent is clear");
        Require(a.HasFlag(TpmaObject.SensitiveDataOrigin), AttestationFailure.AkNotSensitiveDataOrigin, "sensitiveDataOrigin is clear");
        Require(a.HasFlag(TpmaObject.Restricted), AttestationFailure.AkNotRestricted, "restricted is clear: the key could sign forged quotes");
        Require(a.HasFlag(TpmaObject.Sign), AttestationFailure.AkNotSigning, "sign is clear");
        Require(!a.HasFlag(TpmaObject.Decrypt), AttestationFailure.AkCanDecrypt, "decrypt is set");
        var schemeOk = ak.Type switch
        {
            TpmAlgId.Rsa => ak.Scheme.Scheme is TpmAlgId.RsaSsa or TpmAlgId.RsaPss,
            TpmAlgId.Ecc => ak.Scheme.Scheme == TpmAlgId.EcDsa,
            _ => false,
        };
        Require(schemeOk && TpmHash.DigestSize(ak.Scheme.HashAlg) > 0, AttestationFailure.AkUnsupportedScheme,
            $"type 0x{(ushort)ak.Type:x4} scheme 0x{(ushort)ak.Scheme.Scheme:x4}");
    }

    private static void Require(bool condition, AttestationFailure failure, string message)
    {
        if (!condition)
        {
            throw new AttestationException(failure, message);
        }
    }
}
