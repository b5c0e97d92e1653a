using System.Text.Json;

namespace Kldload.Contracts;

// The public wire contract of attestation, shared by kldload and kldload-agent: a node with only
// tpm2-tools and curl can follow it too. Binary TPM structures travel as base64 of their TPM marshalling, as tpm2-tools
// writes them.

/// <summary><c>POST /api/v1/attest/challenge</c>.</summary>
public sealed record ChallengeRequest(string? BootToken, string? Mac);

/// <summary>
/// The session, a 32-byte nonce, the PCRs the quote must cover, and the WireGuard key epoch the
/// node derives its key at (<c>kldload nodes rotate-key</c> raises it).
/// </summary>
/// <remarks>The server always sends the selection; a reader given none quotes its default PCRs, and a missing epoch is 0.</remarks>
public sealed record ChallengeResponse(string SessionId, string Nonce, IReadOnlyDictionary<string, IReadOnlyList<int>>? PcrSelection, uint KeyEpoch = 0);

/// <summary>
/// <c>POST /api/v1/attest/quote</c>. <c>facts</c> is the node's hardware facts (a JSON object, at most
/// <c>Kldload.Facts.FactsLimits.MaxCanonicalBytes</c> in RFC 8785 form), bound into the quote by
/// <c>Kldload.Facts.FactsBinding</c>; facts sent beside a quote of the older form are stored as unbound.
/// </summary>
public sealed record QuoteRequest(
    string? SessionId,
    string? EkPublic,
    string? EkCertificate,
    string? AkPublic,
    string? Quote,
    string? Signature,
    Dictionary<string, Dictionary<string, string>>? Pcrs,
    string? EventLog,
    string? WireguardPublicKey,
    JsonElement? Facts)
{
    /// <summary>DER certificates (base64) from the TPM's EK chain indices: path building only, never trusted by themselves.</summary>
    public List<string>? EkCertificateChain { get; init; }
}

/// <summary>MakeCredential(EK, AK name, secret): only the TPM holding that EK, with that AK loaded, recovers the secret.</summary>
public sealed record QuoteResponse(string CredentialBlob, string EncryptedSecret);

/// <summary><c>POST /api/v1/attest/activate</c>: proof = base64(HMAC-SHA256(secret, UTF-8 session id)).</summary>
public sealed record ActivateRequest(string? SessionId, string? Proof);

/// <summary>The node's mesh identity, or (HTTP 202) the news that its EK waits for approval.</summary>
public sealed record ActivateResponse(
    string NodeId,
    string State,
    string? MeshAddress,
    string? Certificate,
    string? CaBundle,
    string? WireguardConfig,
    JsonElement? PeerBundle,
    string? Detail);

/// <summary>
/// <c>POST /api/v1/attest/ready</c>, sent through the mesh; <paramref name="BurnIn"/> is the result of
/// the burn-in the boot asked for (<c>kldload.burnin=N</c>), reported by the node itself.
/// </summary>
public sealed record ReadyRequest(string? SessionId, BurnInReport? BurnIn = null);

/// <summary>The agent's burn-in result: CPU, memory and a read pass over each disk.</summary>
public sealed record BurnInReport(bool Passed, double Seconds, bool CpuOk, bool MemoryOk, IReadOnlyList<BurnInDiskReport>? Disks, string? Detail)
{
    /// <summary>Failed when the node says so, or when any part it reports failed (a read error on any disk).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Failed => !Passed || !CpuOk || !MemoryOk || (Disks?.Any(d => d.Errors > 0) ?? false);
}

/// <summary>One disk's read pass: bytes read and read errors.</summary>
public sealed record BurnInDiskReport(string? Name, long BytesRead, int Errors);

/// <summary>
/// The answer to ready. <paramref name="Install"/> is the node's profile's install block (issue 20): it
/// rides on this answer because ready is the first message the node receives through the mesh tunnel,
/// whose peer key came in the CA-signed bundle the agent verified, so nobody on the boot LAN can
/// forge it (a kernel argument could be: docs/install.md).
/// </summary>
public sealed record ReadyResponse(string NodeId, string State, double? BootToMeshSeconds, InstallRequest? Install = null);

/// <summary>
/// What the agent installs: <paramref name="Target"/> <c>zfs-root</c> on <paramref name="Disks"/> (paths
/// under <c>/dev</c>), or on every eligible disk when <paramref name="AutoDisks"/>; the installed node keeps
/// <paramref name="KeepEnvironments"/> boot environments.
/// </summary>
public sealed record InstallRequest(string Target, bool AutoDisks, IReadOnlyList<string>? Disks, int KeepEnvironments);
