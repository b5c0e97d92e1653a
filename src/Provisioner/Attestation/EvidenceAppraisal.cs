using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Provisioner.Hosting.Settings;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Provisioner.Attestation;

/// <summary>What happens to the node once the TPM has proven it holds the EK (at activate).</summary>
public enum AttestationOutcome
{
    /// <summary>Trusted: the node gets its mesh identity.</summary>
    Admit,

    /// <summary>A new EK the enrollment policy does not accept by itself: the node waits in Enrolling.</summary>
    AwaitApproval,

    /// <summary>Proven evidence that fails policy (event log, kernel): the node is quarantined.</summary>
    Quarantine,
}

/// <summary>The policy an appraisal applies: settings plus the enrollment policy in force for this node.</summary>
public sealed record AppraisalPolicy(
    IReadOnlyList<int> Pcrs,
    bool RequireMeasuredKernel,
    EnrollmentPolicy Enrollment,
    EkCertificateValidator? EkRoots);

/// <summary>What kldload served for the boot the session belongs to.</summary>
public sealed record ServedBoot(string? KernelAuthenticodeDigest);

/// <summary>
/// The appraisal of a quote. The credential is issued whatever the outcome: only a TPM that proves
/// it holds the EK (activate) gets the outcome applied, so evidence an attacker sends in another
/// node's name changes nothing.
/// </summary>
public sealed record QuoteVerdict(
    string EkFingerprint,
    byte[]? EkCertificate,
    bool KernelMeasured,
    AttestationOutcome Outcome,
    string? Reason,
    string? Detail);

/// <summary>
/// The appraisal as a pure function: evidence, the session's nonce, what the inventory knows of
/// this EK, the policy and what was served go in; a verdict comes out, or a refusal
/// (<see cref="AttestationRefusedException"/>) for evidence that does not hold together. No I/O,
/// no clock, no inventory writes: each rule below can be read and tested on its own.
/// </summary>
public static class EvidenceAppraisal
{
    /// <summary>Appraises a quote; throws <see cref="AttestationRefusedException"/> for evidence that proves nothing.</summary>
    public static QuoteVerdict Appraise(QuoteEvidence evidence, ReadOnlySpan<byte> nonce, bool ekApproved, AppraisalPolicy policy, ServedBoot served)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(served);

        // Rule 1: the EK is a key kldload can protect a credential to; its identity is its key.
        var (certificate, certificateTrusted) = CheckEkCertificate(evidence, policy.EkRoots);
        Check(() => EkIdentity.Validate(evidence.Ek, certificateVouches: certificate is not null));
        var fingerprint = EkIdentity.Fingerprint(evidence.Ek);

        // Rule 2: the AK is a restricted signing key of a TPM, and it signed this session's quote
        // over these PCR values and this WireGuard key.
        Check(() => AkPolicy.Validate(evidence.Ak));
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, [.. policy.Pcrs]);
        var qualifyingData = SHA256.HashData([.. nonce, .. evidence.WireGuardPublicKey]);
        Check(() => QuoteVerifier.Verify(evidence.Ak, evidence.Quote, evidence.Signature, qualifyingData, selection, evidence.Pcrs));

        // Rule 3: a new EK is accepted by the enrollment policy, or waits for an operator.
        var accepted = ekApproved || policy.Enrollment == EnrollmentPolicy.Lab || (policy.Enrollment == EnrollmentPolicy.Auto && certificateTrusted);
        if (!accepted && policy.Enrollment == EnrollmentPolicy.Auto)
        {
            throw new AttestationRefusedException("quote", "bad-ek-certificate",
                "enrollment policy Auto needs an EK certificate that chains to a root in Attestation:EkRootsDir");
        }

        var outcome = accepted ? AttestationOutcome.Admit : AttestationOutcome.AwaitApproval;

        // Rule 4: the event log replays to the quoted PCRs and measured the kernel kldload served.
        var (measured, reason, detail) = AppraiseEventLog(evidence, policy, served);
        if (reason is not null)
        {
            return new QuoteVerdict(fingerprint, certificate, measured, AttestationOutcome.Quarantine, reason, detail);
        }

        return new QuoteVerdict(fingerprint, certificate, measured, outcome, null, null);
    }

    /// <summary>Stable reason names for the failures the TPM library reports.</summary>
    public static string Reason(AttestationFailure failure) => failure switch
    {
        AttestationFailure.NonceMismatch => "nonce-mismatch",
        AttestationFailure.SignatureInvalid or AttestationFailure.SignatureSchemeMismatch => "signature-invalid",
        AttestationFailure.PcrDigestMismatch or AttestationFailure.PcrValueMissing or AttestationFailure.PcrSelectionMismatch or AttestationFailure.EventLogReplayMismatch => "pcr-mismatch",
        AttestationFailure.AkNotRestricted => "ak-not-restricted",
        AttestationFailure.AkNotFixedTpm or AttestationFailure.AkNotFixedParent or AttestationFailure.AkNotSensitiveDataOrigin
            or AttestationFailure.AkNotSigning or AttestationFailure.AkCanDecrypt or AttestationFailure.AkUnsupportedScheme => "ak-attributes",
        AttestationFailure.EkCertificateUntrusted or AttestationFailure.EkCertificateKeyMismatch => "bad-ek-certificate",
        AttestationFailure.EkUnsupported => "ek-unsupported",
        AttestationFailure.EkTemplateMismatch => "ek-template",
        AttestationFailure.BadMagic or AttestationFailure.NotAQuote or AttestationFailure.Malformed => "malformed-evidence",
        _ => failure.ToString(),
    };

    private static void Check(Action check)
    {
        try
        {
            check();
        }
        catch (AttestationException e)
        {
            throw new AttestationRefusedException("quote", Reason(e.Failure), e.Message);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or NotSupportedException or InvalidOperationException)
        {
            throw new AttestationRefusedException("quote", "malformed-evidence", $"the evidence does not hold together: {e.Message}");
        }
    }

    /// <summary>A certificate must carry the EK's key; it is trusted when it chains to a local root.</summary>
    private static (byte[]? Der, bool Trusted) CheckEkCertificate(QuoteEvidence evidence, EkCertificateValidator? roots)
    {
        if (evidence.EkCertificate is not { Length: > 0 } der)
        {
            return (null, false);
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException e)
        {
            throw new AttestationRefusedException("quote", "bad-ek-certificate", $"ekCertificate is not a DER certificate: {e.Message}");
        }

        using (certificate)
        {
            bool matches;
            try
            {
                matches = EkCertificateValidator.KeyMatches(certificate, evidence.Ek);
            }
            catch (Exception e) when (e is CryptographicException or NotSupportedException or ArgumentException)
            {
                matches = false;
            }

            if (!matches)
            {
                throw new AttestationRefusedException("quote", "bad-ek-certificate", "the EK certificate's key is not the EK presented");
            }

            if (roots is null)
            {
                return (der, false);
            }

            try
            {
                roots.Validate(certificate, evidence.Ek);
                return (der, true);
            }
            catch (AttestationException e)
            {
                throw new AttestationRefusedException("quote", "bad-ek-certificate", e.Message);
            }
        }
    }

    /// <summary>
    /// Replays the event log against the quoted PCRs and checks PCR 4: the firmware measures each
    /// EFI application it starts there (EV_EFI_BOOT_SERVICES_APPLICATION), and iPXE starts the
    /// kernel last, so the last application must be the kernel kldload served and nothing may be
    /// extended into PCR 4 after it. Returns a reason for a failure of policy (applied only once the
    /// TPM is proven); throws for a log that does not parse.
    /// </summary>
    private static (bool Measured, string? Reason, string? Detail) AppraiseEventLog(QuoteEvidence evidence, AppraisalPolicy policy, ServedBoot served)
    {
        if (evidence.EventLog is null)
        {
            return policy.Enrollment == EnrollmentPolicy.Lab
                ? NotMeasured(policy)
                : (false, "event-log-missing", "no measured-boot event log was sent; only enrollment policy Lab accepts a quote without one");
        }

        TcgEventLog log;
        try
        {
            log = TcgEventLog.Parse(evidence.EventLog);
        }
        catch (Exception e) when (e is FormatException or AttestationException or ArgumentException or OverflowException or InvalidOperationException)
        {
            throw new AttestationRefusedException("quote", "malformed-evidence", $"eventLog does not parse: {e.Message}");
        }

        var replay = log.Replay(TpmAlgId.Sha256);
        foreach (var pcr in policy.Pcrs)
        {
            var quoted = evidence.Pcrs.GetValueOrDefault((TpmAlgId.Sha256, pcr));
            var replayed = replay.GetValueOrDefault((TpmAlgId.Sha256, pcr)) ?? new byte[32];
            if (quoted is null || !CryptographicOperations.FixedTimeEquals(quoted, replayed))
            {
                return (false, "pcr-mismatch",
                    $"PCR {pcr}: the event log replays to {Convert.ToHexStringLower(replayed)[..16]}…, the quote says {(quoted is null ? "nothing" : Convert.ToHexStringLower(quoted)[..16] + "…")}");
            }
        }

        if (served.KernelAuthenticodeDigest is not { } kernel)
        {
            return NotMeasured(policy);
        }

        var pcr4 = log.Events.Where(e => e.PcrIndex == 4).ToList();
        var applications = pcr4
            .Select((e, i) => (Event: e, Position: i))
            .Where(x => x.Event.EventType == TcgEventType.EfiBootServicesApplication)
            .Select(x => (x.Position, Digest: x.Event.Digests.TryGetValue(TpmAlgId.Sha256, out var d) ? Convert.ToHexStringLower(d) : string.Empty))
            .ToList();
        var kernelAt = applications.FindLastIndex(a => a.Digest == kernel);
        if (kernelAt < 0)
        {
            return applications.Count >= 1
                ? (false, "wrong-kernel-measured", $"the last EFI application measured is {Short(applications[^1].Digest)}, not the kernel kldload served ({Short(kernel)})")
                : NotMeasured(policy);
        }

        if (kernelAt != applications.Count - 1)
        {
            return (false, "wrong-kernel-measured",
                $"the kernel kldload served ({Short(kernel)}) was measured, but another EFI application ({Short(applications[^1].Digest)}) was started after it");
        }

        if (applications[kernelAt].Position != pcr4.Count - 1)
        {
            var after = pcr4[applications[kernelAt].Position + 1];
            return (false, "wrong-kernel-measured",
                $"something was extended into PCR 4 after the kernel (event {after.Index}, type {after.EventType}): PCR 4 must end with the kernel kldload served");
        }

        return (true, null, null);
    }

    private static (bool, string?, string?) NotMeasured(AppraisalPolicy policy) =>
        policy.RequireMeasuredKernel
            ? (false, "kernel-not-measured", "the event log has no measurement of the kernel and Attestation:RequireMeasuredKernel is true")
            : (false, null, null);

    private static string Short(string hex) => hex.Length > 16 ? hex[..16] + "…" : hex;
}
