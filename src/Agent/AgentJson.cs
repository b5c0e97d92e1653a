using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kldload.Agent;

// The agent's half of the attestation wire contract (the provisioner's AttestationContracts), with
// source-generated serialization so the NativeAOT binary needs no reflection.

/// <summary><c>POST /api/v1/attest/challenge</c>.</summary>
internal sealed record ChallengeRequest(string BootToken, string Mac);

/// <summary>
/// The session, the nonce, the PCRs the quote must cover, and the WireGuard key epoch the node derives
/// its key at (the N of <c>kldload/wg/v1/epoch=N</c>; absent from older servers, which means 0).
/// </summary>
internal sealed record ChallengeResponse(string SessionId, string Nonce, Dictionary<string, List<int>>? PcrSelection, uint? KeyEpoch = null);

/// <summary><c>POST /api/v1/attest/quote</c>.</summary>
/// <remarks>
/// <c>ekCertificate</c> is the DER EK certificate from NV (base64) when the TPM has one for the EK used;
/// <c>ekCertificateChain</c> the DER certificates of the EK chain indices 0x01C00100-0x01C001FF
/// (intermediates, never trust anchors), omitted when there are none. <c>facts</c> is the node's
/// hardware facts in RFC 8785 canonical form, bound into the quote (<see cref="Kldload.Facts.FactsBinding"/>).
/// </remarks>
internal sealed record QuoteRequest(
    string SessionId,
    string EkPublic,
    string? EkCertificate,
    List<string>? EkCertificateChain,
    string AkPublic,
    string Quote,
    string Signature,
    Dictionary<string, Dictionary<string, string>> Pcrs,
    string? EventLog,
    string WireguardPublicKey,
    JsonElement? Facts = null);

/// <summary>MakeCredential output.</summary>
internal sealed record QuoteResponse(string CredentialBlob, string EncryptedSecret);

/// <summary><c>POST /api/v1/attest/activate</c>.</summary>
internal sealed record ActivateRequest(string SessionId, string Proof);

/// <summary>The mesh identity (200) or the news that the EK waits for an operator (202).</summary>
internal sealed record ActivateResponse(
    string NodeId,
    string State,
    string? MeshAddress,
    string? Certificate,
    string? CaBundle,
    string? WireguardConfig,
    JsonElement? PeerBundle,
    string? Detail);

/// <summary><c>POST /api/v1/attest/ready</c>, through the mesh, with the burn-in result when the boot asked for one.</summary>
internal sealed record ReadyRequest(string SessionId, BurnInReport? BurnIn = null);

/// <summary>The burn-in result (<c>kldload.burnin=N</c>): passed, how long, the CPU and memory checks, each disk's read pass.</summary>
internal sealed record BurnInReport(bool Passed, double Seconds, bool CpuOk, bool MemoryOk, IReadOnlyList<BurnInDisk> Disks, string Detail);

/// <summary>One disk's read pass in the burn-in result.</summary>
internal sealed record BurnInDisk(string Name, long BytesRead, int Errors);

/// <summary>The server's answer to ready.</summary>
internal sealed record ReadyResponse(string NodeId, string State, double? BootToMeshSeconds);

/// <summary>An RFC 9457 problem body (what the server says when it refuses a step).</summary>
internal sealed record ProblemResponse(string? Title, string? Detail, string? Reason);

/// <summary><c>POST /api/v1/mesh/watch</c> over the mesh: what the node applies now, and how long it waits.</summary>
internal sealed record WatchRequest(ulong AppliedEpoch, int? WaitSeconds, DateTimeOffset? CertificateNotAfter, IReadOnlyList<PeerReport>? Peers, string? AgentState);

/// <summary>One WireGuard peer of the node as the watch reports it.</summary>
internal sealed record PeerReport(string PublicKey, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes);

/// <summary>The watch answer: the signed bundle when the epoch moved, and the settings the agent applies.</summary>
internal sealed record WatchResponse(ulong Epoch, JsonElement? PeerBundle, bool LockPublicNic, int MetricsPort);

/// <summary><c>POST /api/v1/mesh/certificate</c>: a fresh node certificate.</summary>
internal sealed record CertificateRenewal(string Certificate, DateTimeOffset NotAfter);

/// <summary>What the resident agent needs after Ready, kept in RAM (<c>/run</c>) so a restarted agent resumes without attesting.</summary>
internal sealed record ResidentState(
    string NodeId,
    string HubAddress,
    int ServerPort,
    string BootInterface,
    string Interface,
    string CaBundle,
    string TrustedRootSha256,
    string Certificate,
    JsonElement PeerBundle);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ChallengeRequest))]
[JsonSerializable(typeof(ChallengeResponse))]
[JsonSerializable(typeof(QuoteRequest))]
[JsonSerializable(typeof(QuoteResponse))]
[JsonSerializable(typeof(ActivateRequest))]
[JsonSerializable(typeof(ActivateResponse))]
[JsonSerializable(typeof(ReadyRequest))]
[JsonSerializable(typeof(BurnInReport))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(ProblemResponse))]
[JsonSerializable(typeof(WatchRequest))]
[JsonSerializable(typeof(WatchResponse))]
[JsonSerializable(typeof(CertificateRenewal))]
[JsonSerializable(typeof(ResidentState))]
internal sealed partial class AgentJsonContext : JsonSerializerContext;
