using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Settings;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Verification;

namespace Kldload.Provisioner.Attestation;

/// <summary>The result of activate: the node's mesh identity, or the news that it waits for approval.</summary>
public sealed record ActivateResult(bool Pending, ActivateResponse Response);

/// <summary>
/// The server side of attestation: challenge, quote, activate (ready is <see cref="ReadyStep"/>). It decides nothing itself: the
/// appraisal (<see cref="EvidenceAppraisal"/>) is a pure function, and this class gathers its inputs
/// and applies its verdict. The rule it keeps: nothing unproven changes a node. Until activate proves
/// that the TPM holding the EK released the credential, a request creates only its session and
/// events; the verdict (admit, wait for approval, quarantine) is applied only then, in one inventory
/// transaction.
/// </summary>
public sealed class AttestationService(
    NodeService nodes,
    BootTokens tokens,
    IAttestationSessionStore sessions,
    IRevokedEkStore revoked,
    NodeIdentities identities,
    AttestationAdmission admission,
    AttestationRecorder recorder,
    ServedLoaders loaders,
    MeshIdentityService mesh,
    HardwareInventory hardware,
    AttestationSettings settings,
    MeshSettings meshSettings,
    TimeProvider time)
{
    private readonly Lazy<EkCertificateValidator?> _ekRoots = new(() =>
        settings.EkRootsDir is { } dir ? EkCertificateValidator.FromDirectory(dir) : null);

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>Step 1: a boot token opens a session with a fresh nonce.</summary>
    public ChallengeResponse Challenge(ChallengeRequest request, IPAddress? source = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var mac = NodeService.NormaliseMac(request.Mac);
        var problem = tokens.Check(request.BootToken, mac, out var token);
        if (problem != BootTokenProblem.None || token is null || mac is null)
        {
            var reason = "token-" + problem.ToString().ToLowerInvariant();
            var why = problem switch
            {
                BootTokenProblem.Expired => "the boot token expired (Boot:TokenLifetime) or was closed: reboot the node to get a new one",
                BootTokenProblem.Used => "the boot token was already used by a completed attestation: reboot the node",
                BootTokenProblem.WrongMac => "the boot token belongs to another MAC",
                _ => "unknown boot token: boot the node from kldload's iPXE script",
            };
            throw recorder.Refuse(new AttestationRefusedException("challenge", reason, why), null, token?.NodeId, source);
        }

        // One transaction: the session and the node's history land in one commit.
        var (session, node) = nodes.Atomically(() =>
        {
            var session = sessions.Open(token.NodeId, token.Token, mac, settings.SessionLifetime);
            var node = nodes.Store.Get(token.NodeId);
            if (node is not null)
            {
                nodes.Record(node, NodeEventKind.Attestation, $"attestation challenge issued (session {session.Id[..8]}, from {source?.ToString() ?? "unknown"})");
            }

            return (session, node);
        });

        recorder.Count("challenge", "ok", "none");
        return new ChallengeResponse(
            session.Id,
            Convert.ToBase64String(session.Nonce),
            new Dictionary<string, IReadOnlyList<int>> { ["sha256"] = settings.Pcrs },
            node?.Epoch ?? 0);
    }

    /// <summary>Step 2: appraises the evidence and answers with MakeCredential(EK, AK name, secret).</summary>
    public QuoteResponse Quote(QuoteRequest request, IPAddress? source = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = nodes.Atomically(() => sessions.Take(request.SessionId, AttestationSessionState.Challenged, AttestationSessionState.Quoted))
            ?? throw recorder.Refuse(new AttestationRefusedException("quote", "session-invalid", "unknown, expired or already used session: ask for a new challenge"), null, null, source);
        try
        {
            var evidence = QuoteEvidence.Read(request);
            var fingerprint = Identify(evidence);
            // Read-only: whether the EK is revoked, which record it would land on, for its approval and
            // its policy (one read transaction: one opening of the shared database, not one per lookup).
            var (isRevoked, revokedWhy, candidate, token, enrollment, requireSecureBoot) = nodes.Atomically(() =>
            {
                var isRevoked = revoked.IsRevoked(fingerprint, out var why);
                var candidate = identities.Candidate(session.NodeId, fingerprint);
                return (isRevoked, why, candidate, tokens.Find(session.BootToken), identities.PolicyFor(candidate),
                    identities.RequireSecureBootFor(candidate ?? nodes.Store.Get(session.NodeId)));
            });
            if (isRevoked)
            {
                throw new AttestationRefusedException("quote", "ek-revoked", $"this EK was revoked ({revokedWhy}); it can never attest again");
            }

            var own = candidate is not null && candidate.EkFingerprint == fingerprint;
            var history = new AppraisalHistory(own && candidate!.EkApproved, own ? candidate!.PinnedPcrs : null);
            var policy = new AppraisalPolicy(settings.Pcrs, settings.RequireMeasuredKernel, enrollment, _ekRoots.Value, settings.FirmwareDrift, requireSecureBoot);
            var served = new ServedBoot(token?.KernelAuthenticodeDigest, token?.LoadOptions, token?.InitrdDigest) { LoaderDigests = loaders.Digests() };
            var verdict = EvidenceAppraisal.Appraise(evidence, session.Nonce, history, policy, served);

            var secret = RandomNumberGenerator.GetBytes(32);
            MadeCredential credential;
            try
            {
                credential = CredentialMaker.Make(evidence.Ek, evidence.Ak.Name(), secret);
            }
            catch (AttestationException e)
            {
                throw new AttestationRefusedException("quote", EvidenceAppraisal.Reason(e.Failure), e.Message);
            }

            session.Secret = secret;
            session.EkPublic = evidence.EkPublicBytes;
            session.EkFingerprint = fingerprint;
            session.EkCertificate = verdict.EkCertificate;
            session.AkPublic = evidence.AkPublicBytes;
            session.WireGuardPublicKey = evidence.WireGuardPublicKey;
            session.KernelMeasured = verdict.KernelMeasured;
            session.EkAccepted = verdict.Outcome == AttestationOutcome.Admit;
            session.Outcome = verdict.Outcome;
            session.OutcomeReason = verdict.Reason;
            session.OutcomeDetail = verdict.Detail;
            session.CommandLineMeasured = verdict.CommandLineMeasured;
            session.InitrdMeasured = verdict.InitrdMeasured;
            session.FirmwarePcrs = new Dictionary<int, string>(verdict.FirmwarePcrs);
            session.ConfigurationPcrs = new Dictionary<int, string>(verdict.ConfigurationPcrs);
            session.Drift = verdict.Drift;
            session.Facts = evidence.CanonicalFacts is { } facts ? Encoding.UTF8.GetString(facts) : null;
            session.FactsBound = verdict.FactsBound;
            session.SecureBoot = verdict.SecureBoot;
            session.SecureBootSigners = [.. verdict.SecureBootSigners];
            nodes.Atomically(() =>
            {
                sessions.Save(session);
                if (nodes.Store.Get(session.NodeId) is { } named)
                {
                    nodes.Record(named, NodeEventKind.Attestation,
                        $"quote checked (EK {fingerprint[..16]}, kernel {(verdict.KernelMeasured ? "measured" : "not measured")}, Secure Boot {(verdict.SecureBoot switch { true => "on", false => "off", _ => "unknown" })}{(verdict.SecureBootSigners.Count > 0 ? " (" + string.Join("; ", verdict.SecureBootSigners) + ")" : string.Empty)}); credential issued; nothing is applied until the TPM proves it holds the EK");
                }

                return true;
            });

            recorder.Count("quote", "ok", verdict.Reason ?? "none");
            return new QuoteResponse(
                Convert.ToBase64String(TpmMarshal.ToBytes(credential.CredentialBlob)),
                Convert.ToBase64String(TpmMarshal.ToBytes(credential.Secret)));
        }
        catch (AttestationRefusedException e)
        {
            throw recorder.Refuse(e, session, session.NodeId, source);
        }
    }

    /// <summary>Step 3: the proof of the secret. Only now is the TPM, and so the quote, trusted, and the verdict applied.</summary>
    public ActivateResult Activate(ActivateRequest request, IPAddress? source = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = nodes.Atomically(() => sessions.Take(request.SessionId, AttestationSessionState.Quoted, AttestationSessionState.Activated))
            ?? throw recorder.Refuse(new AttestationRefusedException("activate", "session-invalid", "unknown, expired or already used session: start again with a challenge"), null, null, source);
        try
        {
            var expected = HMACSHA256.HashData(session.Secret!, Encoding.UTF8.GetBytes(session.Id));
            if (!CryptographicOperations.FixedTimeEquals(ProofBytes(request.Proof), expected))
            {
                throw new AttestationRefusedException("activate", "proof-wrong",
                    "the proof is not HMAC-SHA256(secret, session id): the credential was not activated by the TPM holding this EK with this AK");
            }

            // Proven. Everything that may have changed since the quote is checked again before any effect.
            var fingerprint = session.EkFingerprint!;
            var (isRevoked, revokedWhy, token) = nodes.Atomically(() =>
            {
                var isRevoked = revoked.IsRevoked(fingerprint, out var why);
                var token = tokens.Check(session.BootToken, session.Mac, out var bootToken) == BootTokenProblem.None ? bootToken : null;
                return (isRevoked, why, token);
            });
            if (isRevoked)
            {
                throw new AttestationRefusedException("activate", "ek-revoked", $"this EK was revoked ({revokedWhy}); it can never attest again");
            }

            if (token is null)
            {
                throw new AttestationRefusedException("activate", "token-closed", "the boot token of this session expired or was closed (decommission, replace): reboot the node");
            }

            session.Secret = null;
            return Apply(session, token, source);
        }
        catch (AttestationRefusedException e)
        {
            throw recorder.Refuse(e, session, session.ResolvedNodeId ?? session.NodeId, source);
        }
    }

    private static byte[] ProofBytes(string? proof)
    {
        try
        {
            return Convert.FromBase64String(proof ?? string.Empty);
        }
        catch (FormatException)
        {
            return [];
        }
    }

    private static string Identify(QuoteEvidence evidence)
    {
        try
        {
            return EkIdentity.Fingerprint(evidence.Ek);
        }
        catch (AttestationException e)
        {
            throw new AttestationRefusedException("quote", EvidenceAppraisal.Reason(e.Failure), e.Message);
        }
    }

    /// <summary>Applies a proven session's verdict: identity, state, mesh and session together.</summary>
    private ActivateResult Apply(AttestationSession session, BootToken token, IPAddress? source)
    {
        var fingerprint = session.EkFingerprint!;

        // Identity follows the TPM: which record, and admitted, held or quarantined, in one transaction.
        var (node, quarantined, pending, review) = nodes.Atomically(() => admission.Decide(session));

        if (quarantined)
        {
            if (review.Hold)
            {
                hardware.RecordEvents(node, review, session.Facts, session.FactsBound);
                recorder.CountHardwareChanges(review.Changes);
            }

            throw new AttestationRefusedException("activate", session.OutcomeReason ?? "policy", $"{session.OutcomeDetail} (node {node.Id} is quarantined)");
        }

        if (pending)
        {
            recorder.Count("activate", "pending", "approval");
            return new ActivateResult(true, new ActivateResponse(node.Id, node.State.ToString(), null, null, null, null, null,
                $"the EK is new and enrollment policy is Approve: waiting for an operator (kldload nodes approve {node.Id}); retry the attestation"));
        }

        // Mesh enrolment is idempotent for one node and key (same address, same member), so it goes
        // first; the inventory change that makes the node Attested is one transaction after it.
        MeshEnrollment enrollment;
        try
        {
            enrollment = mesh.Enroll(node.EffectiveMeshIdentity, Convert.FromHexString(fingerprint), session.WireGuardPublicKey!, node.Epoch,
                MeshHubHosting.NodeEndpoint(meshSettings, source), node.Labels);
        }
        catch (MeshEnrollmentException e)
        {
            throw new AttestationRefusedException("activate", "mesh-refused", e.Message);
        }

        var now = Now;
        try
        {
            node = nodes.Atomically(() =>
            {
                tokens.Complete(token);
                return nodes.Transition(node.Id, NodeState.Attested, "node", "credential activated: TPM, AK and quote trusted", n =>
                {
                    ProvenRecord.Attested(n, session, enrollment, token, now);
                    if (session.Facts is not null)
                    {
                        hardware.Store(n, session.Id, session.Facts, session.FactsBound, now);
                    }
                });
            });
        }
        catch (IllegalTransitionException)
        {
            // Decommissioned while the mesh enrolment ran: take the member off again. (A replaced
            // node's key is on the denylist already, so its enrolment was refused.)
            if (nodes.Store.Get(node.Id)?.State == NodeState.Decommissioned)
            {
                mesh.Decommission(node.EffectiveMeshIdentity);
            }

            throw new AttestationRefusedException("activate", "node-closed", $"node {node.Id} was closed (decommission or replace) during its attestation");
        }

        if (session.Drift is not null)
        {
            nodes.Record(node, NodeEventKind.Attestation, $"{session.Drift}; accepted and pinned anew (Attestation:FirmwareDrift=Accept)", "node", "firmware-drift");
        }

        hardware.RecordEvents(node, review, session.Facts, session.FactsBound);
        recorder.CountHardwareChanges(review.Changes);
        recorder.Count("activate", "ok", "none");

        using var bundle = JsonDocument.Parse(enrollment.Bundle.ToJson());
        return new ActivateResult(false, new ActivateResponse(
            node.Id,
            node.State.ToString(),
            node.MeshAddress,
            enrollment.CertificatePem,
            enrollment.CaBundlePem,
            enrollment.WgQuickConfig,
            bundle.RootElement.Clone(),
            null));
    }
}
