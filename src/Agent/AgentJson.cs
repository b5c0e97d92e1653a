using System.Text.Json;
using System.Text.Json.Serialization;
using Kldload.Contracts;

namespace Kldload.Agent;

// The agent's JSON: the wire contract's records (Kldload.Contracts, shared with the provisioner) and
// the agent's own, with source-generated serialization so the NativeAOT binary needs no reflection.

/// <summary>An RFC 9457 problem body (what the server says when it refuses a step).</summary>
internal sealed record ProblemResponse(string? Title, string? Detail, string? Reason);

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
