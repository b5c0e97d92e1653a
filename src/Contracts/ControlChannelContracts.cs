using System.Text.Json;

namespace Kldload.Contracts;

/// <summary>
/// <c>POST /api/v1/mesh/watch</c>, sent by a node's resident agent over the mesh: what it applies now
/// (its liveness report) and how long it is willing to wait for a change.
/// </summary>
/// <param name="AppliedEpoch">The mesh epoch of the peer bundle the node has applied.</param>
/// <param name="WaitSeconds">How long the server may hold the request open when nothing changed (1 to 120; default 25).</param>
/// <param name="CertificateNotAfter">When the node's certificate runs out.</param>
/// <param name="Peers">The node's WireGuard peers as <c>wg show dump</c> reports them.</param>
/// <param name="AgentState">The agent's own state in one word (for example <c>watching</c>, <c>offline-kept-bundle</c>).</param>
public sealed record WatchRequest(
    ulong AppliedEpoch,
    int? WaitSeconds = null,
    DateTimeOffset? CertificateNotAfter = null,
    IReadOnlyList<PeerReport>? Peers = null,
    string? AgentState = null);

/// <summary>One WireGuard peer of the node: its key, its last handshake (null: never) and the bytes both ways.</summary>
public sealed record PeerReport(string PublicKey, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes);

/// <summary>
/// The answer to a watch: the node's signed peer bundle when the mesh epoch differs from the one it
/// applied (else null: nothing changed while the server waited), and the settings the agent applies.
/// </summary>
/// <param name="Epoch">The mesh epoch now.</param>
/// <param name="PeerBundle">The signed bundle envelope (<c>payload</c>, <c>signature</c>, <c>signer</c>), or null.</param>
/// <param name="LockPublicNic"><c>Mesh:LockPublicNic</c>.</param>
/// <param name="MetricsPort"><c>Mesh:MetricsPort</c>: where the node serves its metrics on its mesh address.</param>
public sealed record WatchResponse(ulong Epoch, JsonElement? PeerBundle, bool LockPublicNic, int MetricsPort);

/// <summary><c>POST /api/v1/mesh/certificate</c>: a fresh node certificate (PEM) and its end of validity.</summary>
public sealed record CertificateRenewal(string Certificate, DateTimeOffset NotAfter);
