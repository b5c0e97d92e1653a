using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Kldload.MeshCA;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Hosting.Settings;
using Kldload.Provisioner.Inventory;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;
using Prometheus;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// A refused attestation step: the HTTP status, a machine-readable reason and a sentence for the
/// operator. <see cref="Quarantine"/> says whether the node is moved to Quarantined.
/// </summary>
public sealed class AttestationRefusedException : Exception
{
    public AttestationRefusedException(int status, string reason, string message, bool quarantine)
        : base(message)
    {
        Status = status;
        Reason = reason;
        Quarantine = quarantine;
    }

    public AttestationRefusedException()
    {
        Reason = string.Empty;
    }

    public AttestationRefusedException(string message)
        : base(message)
    {
        Reason = string.Empty;
    }

    public AttestationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = string.Empty;
    }

    public int Status { get; }

    public string Reason { get; }

    public bool Quarantine { get; }
}

/// <summary>
/// The server side of ARCHITECTURE.md step 5: challenge, quote, activate, ready. It trusts nothing a
/// node says until the credential is activated, and then binds the node's WireGuard key (carried in
/// the quote's qualifying data) to its TPM and gives it its mesh identity.
/// </summary>
public sealed class AttestationService(
    NodeService nodes,
    BootTokenStore tokens,
    AttestationSessionStore sessions,
    RevokedEkStore revoked,
    BootPlanner planner,
    MeshIdentityService mesh,
    AttestationSettings settings,
    TimeProvider time)
{
    private static readonly Counter Outcomes = Metrics.CreateCounter("kldload_attestations_total", "Attestation steps by outcome and reason.", "step", "outcome", "reason");
    private static readonly Histogram TimeToMesh = Metrics.CreateHistogram(
        "kldload_boot_to_mesh_seconds",
        "Seconds from a node's first DHCP packet (or script request) to mesh-ready.",
        new HistogramConfiguration { Buckets = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600] });

    private readonly Lazy<EkCertificateValidator?> _ekRoots = new(() =>
        settings.EkRootsDir is { } dir ? EkCertificateValidator.FromDirectory(dir) : null);

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>Step 1: a boot token opens a session with a fresh nonce.</summary>
    public ChallengeResponse Challenge(ChallengeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var mac = NodeService.NormaliseMac(request.Mac);
        var problem = tokens.Check(request.BootToken, mac, out var token);
        if (problem != BootTokenProblem.None || token is null || mac is null)
        {
            Count("challenge", "refused", "token-" + problem.ToString().ToLowerInvariant());
            var why = problem switch
            {
                BootTokenProblem.Expired => "the boot token expired (Boot:TokenLifetime): reboot the node to get a new one",
                BootTokenProblem.Used => "the boot token was already used by a completed attestation: reboot the node",
                BootTokenProblem.WrongMac => "the boot token belongs to another MAC",
                _ => "unknown boot token: boot the node from kldload's iPXE script",
            };
            throw new AttestationRefusedException(StatusCodes.Status401Unauthorized, "token-" + problem.ToString().ToLowerInvariant(), why, quarantine: false);
        }

        var session = sessions.Open(token.NodeId, token.Token, mac, settings.SessionLifetime);
        if (nodes.Store.Get(token.NodeId) is { } node)
        {
            nodes.Record(node, NodeEventKind.Attestation, "attestation challenge issued");
        }

        Count("challenge", "ok", "none");
        return new ChallengeResponse(session.Id, Convert.ToBase64String(session.Nonce), new Dictionary<string, IReadOnlyList<int>> { ["sha256"] = settings.Pcrs });
    }

    /// <summary>Step 2: checks the evidence and answers with MakeCredential(EK, AK name, secret).</summary>
    public QuoteResponse Quote(QuoteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = sessions.Find(request.SessionId, AttestationSessionState.Challenged)
            ?? throw Refused("quote", StatusCodes.Status403Forbidden, "session-invalid", "unknown, expired or already used session: ask for a new challenge", null);

        // Parse everything first: a malformed structure is refused before any policy is consulted.
        var ekBytes = Base64(request.EkPublic, "ekPublic", session);
        var akBytes = Base64(request.AkPublic, "akPublic", session);
        var quoteBytes = Base64(request.Quote, "quote", session);
        var signatureBytes = Base64(request.Signature, "signature", session);
        var ek = Parse<Tpm2bPublic>(ekBytes, "ekPublic (TPM2B_PUBLIC)", session).Public;
        var ak = Parse<Tpm2bPublic>(akBytes, "akPublic (TPM2B_PUBLIC)", session).Public;
        var signature = Parse<TpmtSignature>(signatureBytes, "signature (TPMT_SIGNATURE)", session);
        if (!WireGuardKey.TryParseBase64(request.WireguardPublicKey, out var wgKey) || !WireGuardKey.IsAcceptablePeerKey(wgKey))
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "wireguard-key-invalid", "wireguardPublicKey is not a usable X25519 key (base64 of 32 bytes, not of small order)", session);
        }

        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(ek.ToBytes()));
        var node = ResolveNode(session, fingerprint);
        session.NodeId = node.Id;
        if (revoked.IsRevoked(fingerprint, out var revokedWhy))
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "ek-revoked", $"this EK was revoked ({revokedWhy}); it can never attest again", session);
        }

        try
        {
            AkPolicy.Validate(ak);
        }
        catch (AttestationException e)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, Reason(e.Failure), e.Message, session);
        }

        var pcrValues = ReadPcrs(request.Pcrs, session);
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, [.. settings.Pcrs]);
        var qualifyingData = SHA256.HashData([.. session.Nonce, .. wgKey]);
        try
        {
            QuoteVerifier.Verify(ak, quoteBytes, signature, qualifyingData, selection, pcrValues);
        }
        catch (AttestationException e)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, Reason(e.Failure), e.Message, session);
        }

        var policy = PolicyFor(node);
        var kernelMeasured = CheckEventLog(request.EventLog, pcrValues, policy, session);
        var certificate = CheckEkCertificate(request.EkCertificate, ek, session, out var certificateTrusted);

        var known = node.EkFingerprint == fingerprint && node.EkApproved;
        var accepted = known || policy == EnrollmentPolicy.Lab || (policy == EnrollmentPolicy.Auto && certificateTrusted);
        if (!accepted && policy == EnrollmentPolicy.Auto)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "bad-ek-certificate",
                "enrollment policy Auto needs an EK certificate that chains to a root in Attestation:EkRootsDir", session);
        }

        var secret = RandomNumberGenerator.GetBytes(32);
        MadeCredential credential;
        try
        {
            credential = CredentialMaker.Make(ek, ak.Name(), secret);
        }
        catch (AttestationException e)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, Reason(e.Failure), e.Message, session);
        }

        session.State = AttestationSessionState.Quoted;
        session.Secret = secret;
        session.EkPublic = ekBytes;
        session.EkFingerprint = fingerprint;
        session.EkCertificate = certificate;
        session.AkPublic = akBytes;
        session.WireGuardPublicKey = wgKey;
        session.KernelMeasured = kernelMeasured;
        session.EkAccepted = accepted;
        sessions.Save(session);

        nodes.Record(node, NodeEventKind.Attestation,
            $"quote verified (EK {fingerprint[..16]}, kernel {(kernelMeasured ? "measured" : "not measured")}); credential issued");
        Count("quote", "ok", "none");
        return new QuoteResponse(
            Convert.ToBase64String(TpmMarshal.ToBytes(credential.CredentialBlob)),
            Convert.ToBase64String(TpmMarshal.ToBytes(credential.Secret)));
    }

    /// <summary>Step 3: the proof of the secret; only now is the AK, and so the quote, trusted.</summary>
    public (int Status, ActivateResponse Response) Activate(ActivateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = sessions.Find(request.SessionId, AttestationSessionState.Quoted)
            ?? throw Refused("activate", StatusCodes.Status403Forbidden, "session-invalid", "unknown, expired or already used session: start again with a challenge", null);

        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(request.Proof ?? string.Empty);
        }
        catch (FormatException)
        {
            proof = [];
        }

        var expected = HMACSHA256.HashData(session.Secret!, Encoding.UTF8.GetBytes(session.Id));
        if (!CryptographicOperations.FixedTimeEquals(proof, expected))
        {
            throw Refused("activate", StatusCodes.Status403Forbidden, "proof-wrong",
                "the proof is not HMAC-SHA256(secret, session id): the credential was not activated by the TPM holding this EK with this AK", session);
        }

        session.State = AttestationSessionState.Activated;
        session.Secret = null;
        sessions.Save(session);

        var node = nodes.Store.Get(session.NodeId)!;
        var approved = session.EkAccepted || (node.EkApproved && node.EkFingerprint == session.EkFingerprint);
        if (!approved)
        {
            node = nodes.Transition(node.Id, NodeState.Enrolling, "node", "new EK proven by the TPM; waits for an operator: kldload nodes approve " + node.Id, n =>
            {
                n.EkPublic = Convert.ToBase64String(session.EkPublic!);
                n.EkFingerprint = session.EkFingerprint;
                n.EkCertificate = session.EkCertificate is null ? null : Convert.ToBase64String(session.EkCertificate);
                n.EkApproved = false;
            });
            Count("activate", "pending", "approval");
            return (StatusCodes.Status202Accepted, new ActivateResponse(node.Id, node.State.ToString(), null, null, null, null, null,
                $"the EK is new and enrollment policy is Approve: waiting for an operator (kldload nodes approve {node.Id}); retry the attestation"));
        }

        if (node.State == NodeState.Quarantined)
        {
            throw Refused("activate", StatusCodes.Status403Forbidden, "quarantined",
                $"node {node.Id} is quarantined ({node.StateReason}); an operator must approve it first", null);
        }

        MeshEnrollment enrollment;
        try
        {
            var epoch = node.Epoch;
            enrollment = mesh.Enroll(node.EffectiveMeshIdentity, Convert.FromHexString(session.EkFingerprint!), session.WireGuardPublicKey!, epoch);
        }
        catch (MeshEnrollmentException e)
        {
            throw Refused("activate", StatusCodes.Status403Forbidden, "mesh-refused", e.Message, session);
        }

        var token = tokens.Check(session.BootToken, session.Mac, out var bootToken) == BootTokenProblem.None ? bootToken : null;
        if (token is not null)
        {
            tokens.Complete(token);
        }

        var now = Now;
        node = nodes.Transition(node.Id, NodeState.Attested, "node", "credential activated: TPM, AK and quote trusted", n =>
        {
            n.EkPublic = Convert.ToBase64String(session.EkPublic!);
            n.EkFingerprint = session.EkFingerprint;
            n.EkCertificate = session.EkCertificate is null ? n.EkCertificate : Convert.ToBase64String(session.EkCertificate);
            n.EkApproved = true;
            n.AkPublic = Convert.ToBase64String(session.AkPublic!);
            n.WireGuardPublicKey = WireGuardKey.ToBase64(session.WireGuardPublicKey!);
            n.MeshAddress = enrollment.Addresses.Address6.ToString();
            n.MeshAddress4 = enrollment.Addresses.Address4?.ToString();
            n.KernelMeasured = session.KernelMeasured;
            n.LastAttestedImageDigest = token?.KernelDigest ?? n.LastBootedKernelDigest;
            n.LastBootAt = now;
        });
        Count("activate", "ok", "none");

        using var bundle = JsonDocument.Parse(enrollment.Bundle.ToJson());
        return (StatusCodes.Status200OK, new ActivateResponse(
            node.Id,
            node.State.ToString(),
            node.MeshAddress,
            enrollment.CertificatePem,
            enrollment.CaBundlePem,
            enrollment.WgQuickConfig,
            bundle.RootElement.Clone(),
            null));
    }

    /// <summary>Step 4: the node reached the hub through its tunnel; it is Ready.</summary>
    public ReadyResponse Ready(ReadyRequest request, IPAddress? remote, bool hubRunning)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = sessions.Find(request.SessionId, AttestationSessionState.Activated)
            ?? throw Refused("ready", StatusCodes.Status403Forbidden, "session-invalid", "unknown or expired session", null);
        var node = nodes.Store.Get(session.NodeId)!;
        if (node.State == NodeState.Ready)
        {
            return new ReadyResponse(node.Id, node.State.ToString(), node.LastBootToMeshSeconds);
        }

        if (node.State != NodeState.Attested)
        {
            throw Refused("ready", StatusCodes.Status409Conflict, "not-attested", $"node {node.Id} is {node.State}, not Attested", null);
        }

        var mapped = remote?.IsIPv4MappedToIPv6 == true ? remote.MapToIPv4() : remote;
        var viaMesh = mapped is not null && (mapped.ToString() == node.MeshAddress || mapped.ToString() == node.MeshAddress4);
        if (hubRunning && !viaMesh)
        {
            throw Refused("ready", StatusCodes.Status403Forbidden, "not-via-mesh",
                $"ready must arrive through the mesh from {node.MeshAddress}, not from {mapped}", null);
        }

        var now = Now;
        double? seconds = node.BootStartedAt is { } started ? Math.Round((now - started).TotalSeconds, 1) : null;
        node = nodes.Transition(node.Id, NodeState.Ready, "node",
            seconds is { } s ? $"on the mesh {(viaMesh ? "(reached the hub through the tunnel)" : "(hub not running)")}: {s:0.0} s from first DHCP packet to mesh-ready" : "on the mesh",
            n => n.LastBootToMeshSeconds = seconds);
        if (seconds is { } value)
        {
            TimeToMesh.Observe(value);
        }

        Count("ready", "ok", "none");
        return new ReadyResponse(node.Id, node.State.ToString(), seconds);
    }

    private static void Count(string step, string outcome, string reason) => Outcomes.WithLabels(step, outcome, reason).Inc();

    /// <summary>The node this EK belongs to: the identity follows the TPM, not the NIC.</summary>
    private NodeRecord ResolveNode(AttestationSession session, string fingerprint)
    {
        var tokenNode = nodes.Store.Get(session.NodeId)!;
        var owner = nodes.Store.FindByEkFingerprint(fingerprint).FirstOrDefault(n => n.State is not (NodeState.Replaced));
        if (owner is not null)
        {
            if (owner.Id != tokenNode.Id)
            {
                nodes.Update(owner.Id, NodeEventKind.Attestation, $"its TPM booted behind {session.Mac}", "node", n =>
                {
                    if (!n.Macs.Contains(session.Mac))
                    {
                        n.Macs.Add(session.Mac);
                    }

                    n.BootStartedAt = tokenNode.BootStartedAt;
                    n.LastBootedKernelDigest = tokenNode.LastBootedKernelDigest;
                    n.LastBootedImage = tokenNode.LastBootedImage;
                });
                nodes.Update(tokenNode.Id, NodeEventKind.Attestation, $"{session.Mac} now belongs to node {owner.Id} (its TPM)", "node", n => n.Macs.Remove(session.Mac));
            }

            return nodes.Store.Get(owner.Id)!;
        }

        if (tokenNode.EkFingerprint is null || tokenNode.EkFingerprint == fingerprint)
        {
            return tokenNode;
        }

        // Same MAC, another TPM: new hardware. It is not silently trusted: it gets its own record,
        // and an operator decides (approve, or replace to carry on the old identity).
        var fresh = nodes.RecordNewHardware(tokenNode, session.Mac);
        return fresh;
    }

    private EnrollmentPolicy PolicyFor(NodeRecord node) =>
        planner.MatchProfile(node)?.EnrollmentPolicy is { } p && Enum.TryParse<EnrollmentPolicy>(p, out var parsed) ? parsed : settings.EnrollmentPolicy;

    private AttestationRefusedException Refused(string step, int status, string reason, string message, AttestationSession? session)
    {
        Count(step, "refused", reason);
        if (session is not null)
        {
            session.State = AttestationSessionState.Failed;
            session.Secret = null;
            sessions.Save(session);
            if (nodes.Store.Get(session.NodeId) is { } node)
            {
                if (!NodeTransitions.IsTerminal(node.State) && status == StatusCodes.Status403Forbidden)
                {
                    nodes.Transition(node.Id, NodeState.Quarantined, "node", $"{reason}: {message}");
                    nodes.Record(node, NodeEventKind.Attestation, $"attestation refused: {message}", "node", reason);
                }
                else
                {
                    nodes.Record(node, NodeEventKind.Attestation, $"attestation refused: {message}", "node", reason);
                }
            }
        }

        return new AttestationRefusedException(status, reason, message, session is not null);
    }

    private byte[] Base64(string? value, string field, AttestationSession session)
    {
        try
        {
            var bytes = Convert.FromBase64String(value ?? throw new FormatException());
            return bytes.Length > 0 ? bytes : throw new FormatException();
        }
        catch (FormatException)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", $"{field} is missing or not base64", session);
        }
    }

    private T Parse<T>(byte[] bytes, string what, AttestationSession session)
        where T : ITpmStructure<T>
    {
        if (!TpmMarshal.TryRead<T>(bytes, out var value, out var error))
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", $"{what} does not parse: {error}", session);
        }

        return value;
    }

    private Dictionary<(TpmAlgId Hash, int Pcr), byte[]> ReadPcrs(Dictionary<string, Dictionary<string, string>>? pcrs, AttestationSession session)
    {
        var values = new Dictionary<(TpmAlgId, int), byte[]>();
        if (pcrs is null || !pcrs.TryGetValue("sha256", out var bank))
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", "pcrs.sha256 is missing", session);
        }

        foreach (var (index, hex) in bank)
        {
            if (!int.TryParse(index, out var pcr) || pcr is < 0 or > 23 || hex.Length != 64)
            {
                throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", $"pcrs.sha256[{index}] is not a PCR index with a 32-byte hex value", session);
            }

            try
            {
                values[(TpmAlgId.Sha256, pcr)] = Convert.FromHexString(hex);
            }
            catch (FormatException)
            {
                throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", $"pcrs.sha256[{index}] is not hex", session);
            }
        }

        return values;
    }

    /// <summary>Replays the event log against the quoted PCRs and finds the kernel measurement.</summary>
    private bool CheckEventLog(string? eventLog, Dictionary<(TpmAlgId Hash, int Pcr), byte[]> pcrValues, EnrollmentPolicy policy, AttestationSession session)
    {
        if (string.IsNullOrEmpty(eventLog))
        {
            if (policy != EnrollmentPolicy.Lab)
            {
                throw Refused("quote", StatusCodes.Status403Forbidden, "event-log-missing",
                    "no measured-boot event log was sent; only enrollment policy Lab accepts a quote without one", session);
            }

            return RequireMeasured(measured: false, session);
        }

        TcgEventLog log;
        try
        {
            log = TcgEventLog.Parse(Convert.FromBase64String(eventLog));
        }
        catch (Exception e) when (e is FormatException or AttestationException or ArgumentException)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "malformed-evidence", $"eventLog does not parse: {e.Message}", session);
        }

        var replay = log.Replay(TpmAlgId.Sha256);
        foreach (var pcr in settings.Pcrs)
        {
            var quoted = pcrValues.GetValueOrDefault((TpmAlgId.Sha256, pcr));
            var replayed = replay.GetValueOrDefault((TpmAlgId.Sha256, pcr)) ?? new byte[32];
            if (quoted is null || !CryptographicOperations.FixedTimeEquals(quoted, replayed))
            {
                throw Refused("quote", StatusCodes.Status403Forbidden, "pcr-mismatch",
                    $"PCR {pcr}: the event log replays to {Convert.ToHexStringLower(replayed)[..16]}…, the quote says {(quoted is null ? "nothing" : Convert.ToHexStringLower(quoted)[..16] + "…")}", session);
            }
        }

        // iPXE loads the kernel last: firmware measures each EFI application it starts into PCR 4.
        tokens.Check(session.BootToken, session.Mac, out var token);
        var served = token?.KernelAuthenticodeDigest;
        var applications = log.BootApplications()
            .Select(e => e.Digests.TryGetValue(TpmAlgId.Sha256, out var d) ? Convert.ToHexStringLower(d) : null)
            .OfType<string>()
            .ToList();
        if (served is not null && applications.Contains(served, StringComparer.Ordinal))
        {
            return RequireMeasured(measured: true, session);
        }

        if (served is not null && applications.Count >= 2)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "wrong-kernel-measured",
                $"the last EFI application measured is {applications[^1][..16]}…, not the kernel kldload served ({served[..16]}…)", session);
        }

        return RequireMeasured(measured: false, session);
    }

    private bool RequireMeasured(bool measured, AttestationSession session) =>
        measured || !settings.RequireMeasuredKernel
            ? measured
            : throw Refused("quote", StatusCodes.Status403Forbidden, "kernel-not-measured",
                "the event log has no measurement of the kernel and Attestation:RequireMeasuredKernel is true", session);

    private byte[]? CheckEkCertificate(string? base64, TpmtPublic ek, AttestationSession session, out bool trusted)
    {
        trusted = false;
        if (string.IsNullOrEmpty(base64))
        {
            return null;
        }

        byte[] der;
        X509Certificate2 certificate;
        try
        {
            der = Convert.FromBase64String(base64);
            certificate = X509CertificateLoader.LoadCertificate(der);
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            throw Refused("quote", StatusCodes.Status403Forbidden, "bad-ek-certificate", $"ekCertificate is not a DER certificate: {e.Message}", session);
        }

        using (certificate)
        {
            if (!EkCertificateValidator.KeyMatches(certificate, ek))
            {
                throw Refused("quote", StatusCodes.Status403Forbidden, "bad-ek-certificate", "the EK certificate's key is not the EK presented", session);
            }

            if (_ekRoots.Value is { } validator)
            {
                try
                {
                    validator.Validate(certificate, ek);
                    trusted = true;
                }
                catch (AttestationException e)
                {
                    throw Refused("quote", StatusCodes.Status403Forbidden, "bad-ek-certificate", e.Message, session);
                }
            }
        }

        return der;
    }

    /// <summary>Stable reason names for the failures the TPM library reports.</summary>
    internal static string Reason(AttestationFailure failure) => failure switch
    {
        AttestationFailure.NonceMismatch => "nonce-mismatch",
        AttestationFailure.SignatureInvalid or AttestationFailure.SignatureSchemeMismatch => "signature-invalid",
        AttestationFailure.PcrDigestMismatch or AttestationFailure.PcrValueMissing or AttestationFailure.PcrSelectionMismatch or AttestationFailure.EventLogReplayMismatch => "pcr-mismatch",
        AttestationFailure.AkNotRestricted => "ak-not-restricted",
        AttestationFailure.AkNotFixedTpm or AttestationFailure.AkNotFixedParent or AttestationFailure.AkNotSensitiveDataOrigin
            or AttestationFailure.AkNotSigning or AttestationFailure.AkCanDecrypt or AttestationFailure.AkUnsupportedScheme => "ak-attributes",
        AttestationFailure.EkCertificateUntrusted or AttestationFailure.EkCertificateKeyMismatch => "bad-ek-certificate",
        AttestationFailure.EkUnsupported => "ek-unsupported",
        AttestationFailure.BadMagic or AttestationFailure.NotAQuote or AttestationFailure.Malformed => "malformed-evidence",
        _ => failure.ToString(),
    };
}
