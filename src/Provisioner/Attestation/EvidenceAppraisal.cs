using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Facts;
using Kldload.Provisioner.Settings;
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
    EkCertificateValidator? EkRoots,
    FirmwareDrift FirmwareDrift = FirmwareDrift.Approve,
    bool RequireSecureBoot = false);

/// <summary>What the inventory knows of this EK: whether it is approved, and the firmware PCRs pinned for it.</summary>
public sealed record AppraisalHistory(bool EkApproved, IReadOnlyDictionary<int, string>? PinnedPcrs);

/// <summary>
/// What kldload served for the boot the session belongs to: the kernel's Authenticode digest, the
/// load options the loader hands the kernel (iPXE: image name, a space, the arguments) and the
/// initrd's SHA-256.
/// </summary>
public sealed record ServedBoot(string? KernelAuthenticodeDigest, string? LoadOptions = null, string? InitrdSha256 = null)
{
    /// <summary>Authenticode digests of the loaders kldload serves (EFI files under Tftp:Root); null when not known.</summary>
    public IReadOnlySet<string>? LoaderDigests { get; init; }
}

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
    string? Detail)
{
    /// <summary>Whether PCR 9 carried the kernel command line kldload served (the EFI stub's LoadOptions tag).</summary>
    public bool CommandLineMeasured { get; init; }

    /// <summary>Whether PCR 9 carried the initrd kldload served (the EFI stub's "Linux initrd" tag, LoadFile2 only).</summary>
    public bool InitrdMeasured { get; init; }

    /// <summary>Firmware code and Secure Boot PCRs (0, 2, 7) as quoted: pinned on the first attestation.</summary>
    public IReadOnlyDictionary<int, string> FirmwarePcrs { get; init; } = new Dictionary<int, string>();

    /// <summary>Configuration PCRs (1, 3, 5, 6) as quoted: recorded, not pinned.</summary>
    public IReadOnlyDictionary<int, string> ConfigurationPcrs { get; init; } = new Dictionary<int, string>();

    /// <summary>A pinned firmware PCR that changed, described; null when none did.</summary>
    public string? Drift { get; init; }

    /// <summary>Whether the quote's qualifying data binds the facts sent (the new form); false for the older form or no facts.</summary>
    public bool FactsBound { get; init; }

    /// <summary>PCR 7's <c>SecureBoot</c> variable as measured; null when the log (or PCR 7) was not appraised.</summary>
    public bool? SecureBoot { get; init; }

    /// <summary>The authorities PCR 7 says verified the images started (<see cref="SecureBootReport.Authorities"/>).</summary>
    public IReadOnlyList<string> SecureBootSigners { get; init; } = [];
}

/// <summary>
/// The appraisal as a pure function: evidence, the session's nonce, what the inventory knows of
/// this EK, the policy and what was served go in; a verdict comes out, or a refusal
/// (<see cref="AttestationRefusedException"/>) for evidence that does not hold together. No I/O,
/// no clock, no inventory writes: each rule below can be read and tested on its own.
/// </summary>
public static class EvidenceAppraisal
{
    /// <summary>Appraises a quote; throws <see cref="AttestationRefusedException"/> for evidence that proves nothing.</summary>
    public static QuoteVerdict Appraise(QuoteEvidence evidence, ReadOnlySpan<byte> nonce, AppraisalHistory history, AppraisalPolicy policy, ServedBoot served)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(served);
        var ekApproved = history.EkApproved;

        // Rule 1: the EK is a key kldload can protect a credential to; its identity is its key.
        var (certificate, certificateTrusted) = CheckEkCertificate(evidence, policy.EkRoots);
        Check(() => EkIdentity.Validate(evidence.Ek, certificateVouches: certificate is not null));
        var fingerprint = EkIdentity.Fingerprint(evidence.Ek);

        // Rule 2: the AK is a restricted signing key of a TPM, and it signed this session's quote
        // over these PCR values, this WireGuard key and (new form) these facts.
        Check(() => AkPolicy.Validate(evidence.Ak));
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, [.. policy.Pcrs]);
        var factsBound = BindsFacts(evidence, nonce, out var qualifyingData);
        Check(() => QuoteVerifier.Verify(evidence.Ak, evidence.Quote, evidence.Signature, qualifyingData, selection, evidence.Pcrs));

        // Rule 3: a new EK is accepted by the enrollment policy, or waits for an operator.
        var accepted = ekApproved || policy.Enrollment == EnrollmentPolicy.Lab || (policy.Enrollment == EnrollmentPolicy.Auto && certificateTrusted);
        if (!accepted && policy.Enrollment == EnrollmentPolicy.Auto)
        {
            throw new AttestationRefusedException("quote", "bad-ek-certificate",
                "enrollment policy Auto needs an EK certificate that chains to a root in Attestation:EkRootsDir");
        }

        var outcome = accepted ? AttestationOutcome.Admit : AttestationOutcome.AwaitApproval;

        // Rule 4: the event log replays to the quoted PCRs and measured what kldload served.
        var boot = AppraiseEventLog(evidence, policy, served);
        var firmware = Quoted(evidence, policy, FirmwarePcrIndices);
        var configuration = Quoted(evidence, policy, ConfigurationPcrIndices);
        var verdict = new QuoteVerdict(fingerprint, certificate, boot.KernelMeasured, outcome, null, null)
        {
            FactsBound = factsBound,
            CommandLineMeasured = boot.CommandLineMeasured,
            InitrdMeasured = boot.InitrdMeasured,
            FirmwarePcrs = firmware,
            ConfigurationPcrs = configuration,
            SecureBoot = boot.SecureBoot?.Enabled,
            SecureBootSigners = boot.SecureBoot?.Authorities ?? [],
        };
        if (boot.Reason is not null)
        {
            return verdict with { Outcome = AttestationOutcome.Quarantine, Reason = boot.Reason, Detail = boot.Detail };
        }

        // Rule 5: firmware code and Secure Boot configuration (PCRs 0, 2, 7) stay as first attested.
        var drift = Drift(history.PinnedPcrs, firmware);
        if (drift is null)
        {
            return verdict;
        }

        return policy.FirmwareDrift switch
        {
            FirmwareDrift.Quarantine => verdict with { Outcome = AttestationOutcome.Quarantine, Reason = "firmware-drift", Detail = drift, Drift = drift },
            FirmwareDrift.Accept => verdict with { Drift = drift },
            _ => verdict with { Outcome = AttestationOutcome.AwaitApproval, Reason = "firmware-drift", Detail = drift, Drift = drift },
        };
    }

    /// <summary>PCRs pinned per node on its first attestation: firmware code (0, 2) and Secure Boot policy (7).</summary>
    public static readonly int[] FirmwarePcrIndices = [0, 2, 7];

    /// <summary>PCRs recorded but not pinned: boot order and configuration (1, 3, 5, 6) change legitimately.</summary>
    public static readonly int[] ConfigurationPcrIndices = [1, 3, 5, 6];

    /// <summary>
    /// The digest the Linux EFI stub extends into PCR 9 for its load options: SHA-256 of the UTF-16LE
    /// string the loader passed, with its terminating NUL (checked against a real OVMF boot of Debian's
    /// 6.1 kernel in tests/Tpm.Tests/TestData/ovmf).
    /// </summary>
    public static string LoadOptionsDigest(string loadOptions)
    {
        ArgumentNullException.ThrowIfNull(loadOptions);
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.Unicode.GetBytes(loadOptions + "\0")));
    }

    private static Dictionary<int, string> Quoted(QuoteEvidence evidence, AppraisalPolicy policy, int[] indices) =>
        indices.Where(policy.Pcrs.Contains)
            .Where(i => evidence.Pcrs.ContainsKey((TpmAlgId.Sha256, i)))
            .ToDictionary(i => i, i => Convert.ToHexStringLower(evidence.Pcrs[(TpmAlgId.Sha256, i)]));

    private static string? Drift(IReadOnlyDictionary<int, string>? pinned, IReadOnlyDictionary<int, string> quoted)
    {
        if (pinned is null || pinned.Count == 0)
        {
            return null;
        }

        var changed = pinned.Where(p => quoted.TryGetValue(p.Key, out var now) && now != p.Value)
            .Select(p => $"PCR {p.Key} {Short(p.Value)} -> {Short(quoted[p.Key])}")
            .ToList();
        return changed.Count == 0 ? null : "firmware PCRs changed since they were pinned: " + string.Join(", ", changed);
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

    /// <summary>
    /// Which qualifying data the quote must carry: SHA-256(nonce ‖ wg ‖ SHA-256(JCS(facts))) when facts
    /// were sent and the quote's extraData is that value, else the older SHA-256(nonce ‖ wg) (accepted
    /// for one release; facts sent with it are unbound). The choice only picks what
    /// <see cref="QuoteVerifier"/> then checks in full, signature included; facts altered after the
    /// quote match neither form and the quote is refused.
    /// </summary>
    private static bool BindsFacts(QuoteEvidence evidence, ReadOnlySpan<byte> nonce, out byte[] qualifyingData)
    {
        var unbound = FactsBinding.Unbound(nonce, evidence.WireGuardPublicKey);
        qualifyingData = unbound;
        if (evidence.CanonicalFacts is not { } facts)
        {
            return false;
        }

        var bound = FactsBinding.Bound(nonce, evidence.WireGuardPublicKey, FactsBinding.DigestOfCanonical(facts));
        var quoted = Kldload.Tpm.Marshalling.TpmMarshal.TryRead<TpmsAttest>(evidence.Quote, out var attest, out _) ? attest.ExtraData : null;
        if (quoted is not null && CryptographicOperations.FixedTimeEquals(quoted, bound))
        {
            qualifyingData = bound;
            return true;
        }

        if (quoted is not null && !CryptographicOperations.FixedTimeEquals(quoted, unbound))
        {
            throw new AttestationRefusedException("quote", Reason(AttestationFailure.NonceMismatch),
                "the quote's extraData is neither SHA-256(nonce || WireGuard key || SHA-256(JCS(facts))) nor SHA-256(nonce || WireGuard key): the facts, the WireGuard key or the nonce differ from what the TPM quoted");
        }

        return false;
    }

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

            var presented = new X509Certificate2Collection();
            try
            {
                foreach (var c in evidence.EkCertificateChain)
                {
                    presented.Add(X509CertificateLoader.LoadCertificate(c));
                }

                roots.Validate(certificate, evidence.Ek, presentedIntermediates: presented);
                return (der, true);
            }
            catch (CryptographicException e)
            {
                throw new AttestationRefusedException("quote", "bad-ek-certificate", $"ekCertificateChain holds something that is not a DER certificate: {e.Message}");
            }
            catch (AttestationException e)
            {
                throw new AttestationRefusedException("quote", "bad-ek-certificate", e.Message);
            }
            finally
            {
                foreach (var c in presented)
                {
                    c.Dispose();
                }
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
    private static BootAppraisal AppraiseEventLog(QuoteEvidence evidence, AppraisalPolicy policy, ServedBoot served)
    {
        if (evidence.EventLog is null && policy.RequireSecureBoot)
        {
            return Fails("secure-boot-off", "no measured-boot event log was sent, so PCR 7 cannot show Secure Boot on, and Secure Boot is required (Attestation:RequireSecureBoot or the node's profile)");
        }

        if (evidence.EventLog is null)
        {
            return policy.Enrollment == EnrollmentPolicy.Lab
                ? NotMeasured(policy)
                : Fails("event-log-missing", "no measured-boot event log was sent; only enrollment policy Lab accepts a quote without one");
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
                return Fails("pcr-mismatch",
                    $"PCR {pcr}: the event log replays to {Convert.ToHexStringLower(replayed)[..16]}…, the quote says {(quoted is null ? "nothing" : Convert.ToHexStringLower(quoted)[..16] + "…")}");
            }
        }

        // PCR 7 (replayed above when quoted): Secure Boot on or off, and who signed what was started.
        var secureBoot = policy.Pcrs.Contains(7) ? SecureBootReport.FromLog(log) : null;
        if (secureBoot is { Problems.Count: > 0 })
        {
            return Fails("malformed-secure-boot-events", string.Join("; ", secureBoot.Problems)) with { SecureBoot = secureBoot };
        }

        if (policy.RequireSecureBoot && secureBoot?.Enabled != true)
        {
            var why = secureBoot is null
                ? "Attestation:RequireSecureBoot is true but PCR 7 is not in Attestation:Pcrs, so Secure Boot cannot be checked"
                : (secureBoot.Enabled == false ? "PCR 7 shows Secure Boot off (the SecureBoot variable was measured as 0 or not at all)" : "PCR 7 has no Secure Boot measurements at all")
                    + " and Secure Boot is required (Attestation:RequireSecureBoot or the node's profile)";
            return Fails("secure-boot-off", why) with { SecureBoot = secureBoot };
        }

        var (commandLine, initrd, pcr9Reason, pcr9Detail) = policy.Pcrs.Contains(9) ? AppraisePcr9(log, served) : (false, false, null, null);
        if (pcr9Reason is not null)
        {
            return Fails(pcr9Reason, pcr9Detail!) with { SecureBoot = secureBoot };
        }

        return AppraiseKernel(log, policy, served, commandLine, initrd) with { SecureBoot = secureBoot };
    }

    /// <summary>PCR 4: the kernel kldload served is the last EFI application, started by a loader kldload serves.</summary>
    private static BootAppraisal AppraiseKernel(TcgEventLog log, AppraisalPolicy policy, ServedBoot served, bool commandLine, bool initrd)
    {
        if (served.KernelAuthenticodeDigest is not { } kernel)
        {
            return NotMeasured(policy) with { CommandLineMeasured = commandLine, InitrdMeasured = initrd };
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
                ? Fails("wrong-kernel-measured", $"the last EFI application measured is {Short(applications[^1].Digest)}, not the kernel kldload served ({Short(kernel)})")
                : NotMeasured(policy) with { CommandLineMeasured = commandLine, InitrdMeasured = initrd };
        }

        if (kernelAt != applications.Count - 1)
        {
            return Fails("wrong-kernel-measured",
                $"the kernel kldload served ({Short(kernel)}) was measured, but another EFI application ({Short(applications[^1].Digest)}) was started after it");
        }

        // iPXE loads the kernel once to probe it and again to start it, and firmware measures both
        // loads: the same image repeated. The application before those is the loader that started it.
        var loaderAt = kernelAt;
        while (loaderAt > 0 && applications[loaderAt - 1].Digest == kernel)
        {
            loaderAt--;
        }

        if (loaderAt > 0 && served.LoaderDigests is { } loaders && !loaders.Contains(applications[loaderAt - 1].Digest))
        {
            return Fails("wrong-loader-measured",
                $"the EFI application that started the kernel ({Short(applications[loaderAt - 1].Digest)}) is none of the {loaders.Count} loaders kldload serves from Tftp:Root");
        }

        if (applications[kernelAt].Position != pcr4.Count - 1)
        {
            var after = pcr4[applications[kernelAt].Position + 1];
            return Fails("wrong-kernel-measured",
                $"something was extended into PCR 4 after the kernel (event {after.Index}, type {after.EventType}): PCR 4 must end with the kernel kldload served");
        }

        if (!commandLine && policy.RequireMeasuredKernel && served.LoadOptions is not null)
        {
            return Fails("kernel-not-measured", "PCR 9 has no measurement of the kernel command line (LoadOptions tag) and Attestation:RequireMeasuredKernel is true");
        }

        return new BootAppraisal(true, commandLine, initrd, null, null);
    }

    /// <summary>Tagged events (TCG_PCClientTaggedEvent) of the Linux EFI stub in PCR 9.</summary>
    private const uint InitrdTag = 0x8F3B22EC;

    private const uint LoadOptionsTag = 0x8F3B22ED;

    /// <summary>
    /// PCR 9: the Linux EFI stub measures its load options (the kernel command line, which carries the
    /// boot token) as an EV_EVENT_TAG <c>LOADED_IMAGE::LoadOptions</c>, and an initrd it loads through
    /// LoadFile2 as <c>Linux initrd</c>. A present tag that differs from what was served is refused;
    /// a missing tag is "not measured".
    /// </summary>
    private static (bool CommandLine, bool Initrd, string? Reason, string? Detail) AppraisePcr9(TcgEventLog log, ServedBoot served)
    {
        bool commandLine = false, initrd = false;
        foreach (var e in log.Events.Where(e => e.PcrIndex == 9 && e.EventType == TcgEventType.EventTag && e.Data.Length >= 8))
        {
            var tag = BinaryPrimitives.ReadUInt32LittleEndian(e.Data);
            var digest = e.Digests.TryGetValue(TpmAlgId.Sha256, out var d) ? Convert.ToHexStringLower(d) : string.Empty;
            if (tag == LoadOptionsTag && served.LoadOptions is { } options)
            {
                var expected = LoadOptionsDigest(options);
                if (digest != expected)
                {
                    return (false, false, "wrong-cmdline-measured", $"PCR 9 measured a kernel command line with digest {Short(digest)}, not the one kldload served ({Short(expected)})");
                }

                commandLine = true;
            }
            else if (tag == InitrdTag && served.InitrdSha256 is { } initrdDigest)
            {
                if (digest != initrdDigest)
                {
                    return (false, false, "wrong-initrd-measured", $"PCR 9 measured an initrd with digest {Short(digest)}, not the one kldload served ({Short(initrdDigest)})");
                }

                initrd = true;
            }
        }

        return (commandLine, initrd, null, null);
    }

    private static BootAppraisal Fails(string reason, string detail) => new(false, false, false, reason, detail);

    private static BootAppraisal NotMeasured(AppraisalPolicy policy) =>
        policy.RequireMeasuredKernel
            ? Fails("kernel-not-measured", "the event log has no measurement of the kernel and Attestation:RequireMeasuredKernel is true")
            : new BootAppraisal(false, false, false, null, null);

    private sealed record BootAppraisal(bool KernelMeasured, bool CommandLineMeasured, bool InitrdMeasured, string? Reason, string? Detail)
    {
        public SecureBootReport? SecureBoot { get; init; }
    }

    private static string Short(string hex) => hex.Length > 16 ? hex[..16] + "…" : hex;
}
