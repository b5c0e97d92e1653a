namespace Kldload.Tpm.Verification;

/// <summary>Why a piece of attestation evidence was refused; each check has its own value.</summary>
public enum AttestationFailure
{
    /// <summary>A structure (TPMS_ATTEST, TPMT_PUBLIC, signature, event log) does not parse.</summary>
    Malformed,

    /// <summary>TPMS_ATTEST.magic is not TPM_GENERATED_VALUE: the TPM did not produce it.</summary>
    BadMagic,

    /// <summary>TPMS_ATTEST.type is not TPM_ST_ATTEST_QUOTE.</summary>
    NotAQuote,

    /// <summary>extraData differs from the qualifying data the verifier expects (a replay or another session).</summary>
    NonceMismatch,

    /// <summary>The quoted PCR selection differs from the requested one (e.g. an inactive bank was dropped).</summary>
    PcrSelectionMismatch,

    /// <summary>A selected PCR has no supplied value.</summary>
    PcrValueMissing,

    /// <summary>The quoted PCR digest differs from the digest of the supplied PCR values.</summary>
    PcrDigestMismatch,

    /// <summary>The signature algorithm or hash differs from the AK's scheme.</summary>
    SignatureSchemeMismatch,

    /// <summary>The signature does not verify with the AK public key.</summary>
    SignatureInvalid,

    /// <summary>The AK lacks fixedTPM.</summary>
    AkNotFixedTpm,

    /// <summary>The AK lacks fixedParent.</summary>
    AkNotFixedParent,

    /// <summary>The AK lacks sensitiveDataOrigin (its private key was imported).</summary>
    AkNotSensitiveDataOrigin,

    /// <summary>The AK is not restricted: it could sign a forged TPMS_ATTEST.</summary>
    AkNotRestricted,

    /// <summary>The AK is not a signing key.</summary>
    AkNotSigning,

    /// <summary>The AK can decrypt.</summary>
    AkCanDecrypt,

    /// <summary>The AK type or scheme is not one kldload verifies (RSASSA/RSAPSS, ECDSA).</summary>
    AkUnsupportedScheme,

    /// <summary>The EK certificate does not chain to a trusted root in the local directory.</summary>
    EkCertificateUntrusted,

    /// <summary>The EK certificate's key differs from the EK presented.</summary>
    EkCertificateKeyMismatch,

    /// <summary>The EK type or parameters are not supported for MakeCredential.</summary>
    EkUnsupported,

    /// <summary>The EK lacks the TCG EK template's attributes or policy and no certificate vouches for its key.</summary>
    EkTemplateMismatch,

    /// <summary>The event log replay differs from the quoted PCR values.</summary>
    EventLogReplayMismatch,
}

/// <summary>Attestation evidence failed a check; <see cref="Failure"/> says which.</summary>
public sealed class AttestationException : Exception
{
    public AttestationException(AttestationFailure failure, string message)
        : base($"{failure}: {message}") => Failure = failure;

    public AttestationException()
    {
    }

    public AttestationException(string message)
        : base(message)
    {
    }

    public AttestationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public AttestationFailure Failure { get; }
}
