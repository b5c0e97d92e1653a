using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Kldload.Contracts;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;

namespace Kldload.Agent.Resident;

/// <summary>
/// The agent after Ready: it stays on the node and keeps one control channel to kldload over the mesh
/// (<see cref="IControlChannel"/>, a long poll). Every signed bundle that arrives is checked by
/// <see cref="PeerBundleVerifier"/> (trusted root: the one pinned at attestation; epochs only grow; a
/// foreign signer, a stale or conflicting epoch is refused, said on the console, and the last good
/// bundle stays) and applied peer by peer (<see cref="PeerChangePlan"/>); the certificate is renewed
/// once two thirds of its validity have passed; the boot NIC is locked down when kldload says so.
/// While kldload is away nothing is undone: the interface keeps the last good bundle's peers.
/// </summary>
internal sealed class ResidentAgent
{
    private readonly IControlChannel _channel;
    private readonly IMeshInterface _link;
    private readonly INicLock? _nicLock;
    private readonly TimeProvider _time;
    private readonly Action<string> _say;
    private readonly Action<ResidentState>? _save;
    private readonly PeerBundleVerifier _verifier;
    private readonly Lock _gate = new();
    private ResidentState _state;
    private int? _lockedPort;
    private bool _lockTried;

    public ResidentAgent(ResidentState state, IControlChannel channel, IMeshInterface link, INicLock? nicLock, TimeProvider time, Action<string> say, Action<ResidentState>? save = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        _state = state;
        _channel = channel;
        _link = link;
        _nicLock = nicLock;
        _time = time;
        _say = say;
        _save = save;
        var pinned = Convert.FromHexString(state.TrustedRootSha256);
        var roots = MeshCertificateAuthority.RootsOf(state.CaBundle)
            .Where(r => SHA256.HashData(r.PublicKey.ExportSubjectPublicKeyInfo()).AsSpan().SequenceEqual(pinned))
            .ToList();
        if (roots.Count == 0)
        {
            throw new IOException("the saved CA bundle does not hold the pinned root");
        }

        _verifier = new PeerBundleVerifier(roots, state.NodeId, time);
        if (Parse(state.PeerBundle) is not { } saved || _verifier.Offer(saved, out var problem) != BundleVerdict.Accepted)
        {
            throw new IOException("the saved peer bundle fails verification");
        }

        using var certificate = X509Certificate2.CreateFromPem(state.Certificate);
        CertificateNotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        CertificateNotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
    }

    /// <summary>How long kldload may hold a watch open.</summary>
    public TimeSpan Wait { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>Longest pause between attempts while kldload is away.</summary>
    public TimeSpan MaxRetry { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The epoch of the last good (applied) bundle.</summary>
    public ulong AppliedEpoch => _verifier.Current!.Epoch;

    /// <summary>The last good bundle.</summary>
    public PeerBundle Bundle => _verifier.Current!;

    public DateTimeOffset CertificateNotBefore { get; private set; }

    public DateTimeOffset CertificateNotAfter { get; private set; }

    /// <summary>When the certificate is renewed: two thirds into its validity.</summary>
    public DateTimeOffset RenewAt => CertificateNotBefore + ((CertificateNotAfter - CertificateNotBefore) * 2 / 3);

    /// <summary><c>watching</c>, <c>kldload-unreachable</c> (last good bundle kept) or <c>revoked</c>.</summary>
    public string State { get; private set; } = "starting";

    /// <summary>Where the node serves its metrics, as kldload last said (<c>Mesh:MetricsPort</c>).</summary>
    public int? MetricsPort { get; private set; }

    /// <summary>True once the boot NIC's ruleset is installed.</summary>
    public bool NicLocked { get; private set; }

    public long BundlesApplied { get; private set; }

    public long BundlesRefused { get; private set; }

    public long Renewals { get; private set; }

    public DateTimeOffset? LastContact { get; private set; }

    /// <summary>Raised with the mesh epoch whenever a bundle has been applied (tests and metrics).</summary>
    public event Action<ulong>? Applied;

    /// <summary>Runs the control channel and the renewal timer until <paramref name="ct"/> fires.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        _say($"resident: control channel to kldload over the mesh, bundle epoch {AppliedEpoch}, certificate until {CertificateNotAfter:u} (renewal at {RenewAt:u})");
        await Task.WhenAll(WatchLoopAsync(ct), RenewLoopAsync(ct)).ConfigureAwait(false);
    }

    /// <summary>
    /// Verifies a signed bundle envelope and, when it is newer than the last good one, applies it.
    /// Anything else is refused and said; the interface is not touched then.
    /// </summary>
    public BundleVerdict Offer(JsonElement envelope)
    {
        lock (_gate)
        {
            if (Parse(envelope) is not { } signed)
            {
                BundlesRefused++;
                _say("REFUSED peer bundle: malformed envelope; keeping epoch " + AppliedEpoch);
                return BundleVerdict.Malformed;
            }

            var before = AppliedEpoch;
            var verdict = _verifier.Offer(signed, out var problem);
            if (verdict == BundleVerdict.Unchanged)
            {
                return verdict;
            }

            if (verdict != BundleVerdict.Accepted)
            {
                BundlesRefused++;
                _say($"REFUSED peer bundle ({verdict}): {problem}; keeping epoch {before}");
                return verdict;
            }

            var bundle = _verifier.Current!;
            var plan = PeerChangePlan.Between(_link.Peers(), bundle);
            foreach (var key in plan.Remove)
            {
                _link.RemovePeer(key);
            }

            foreach (var peer in plan.Set)
            {
                _link.SetPeer(peer);
            }

            if (bundle.ListenPort is { } port && _link.ListenPort() != port)
            {
                _link.SetListenPort(port);
            }

            BundlesApplied++;
            _state = _state with { PeerBundle = envelope.Clone() };
            _save?.Invoke(_state);
            _say($"bundle: epoch {before} -> {bundle.Epoch} applied ({plan.Set.Count} peers set, {plan.Remove.Count} removed{(plan.Remove.Count > 0 ? ": " + string.Join(", ", plan.Remove) : string.Empty)})");
        }

        Applied?.Invoke(AppliedEpoch);
        return BundleVerdict.Accepted;
    }

    /// <summary>One watch: reports, waits for kldload's answer and applies it. False when kldload could not be reached.</summary>
    public async Task<bool> WatchOnceAsync(CancellationToken ct)
    {
        WatchResponse answer;
        try
        {
            // The first watch of a run asks for an answer at once (1 s): the agent learns its settings
            // (NIC lock, metrics port) without waiting a whole period.
            var wait = LastContact is null ? 1 : (int)Wait.TotalSeconds;
            answer = await _channel.WatchAsync(new WatchRequest(AppliedEpoch, wait, CertificateNotAfter, PeerReports(), State), ct).ConfigureAwait(false);
        }
        catch (NodeRevokedException e)
        {
            if (State != "revoked")
            {
                _say($"REVOKED: kldload says {e.Message}; keeping the interface as it is, this node must be reimaged to rejoin");
            }

            State = "revoked";
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            if (State != "kldload-unreachable")
            {
                _say($"control channel: kldload unreachable ({e.Message}); keeping bundle epoch {AppliedEpoch} and its {Bundle.Peers.Count} peers; retrying");
            }

            State = "kldload-unreachable";
            return false;
        }

        if (State != "watching")
        {
            _say($"control channel: connected (mesh epoch {answer.Epoch}, applied {AppliedEpoch})");
        }

        State = "watching";
        LastContact = _time.GetUtcNow();
        MetricsPort = answer.MetricsPort;
        if (answer.PeerBundle is { } envelope)
        {
            var verdict = Offer(envelope);
            if (verdict is not (BundleVerdict.Accepted or BundleVerdict.Unchanged))
            {
                // kldload keeps offering what was refused (a restored older database, a foreign signer):
                // do not spin on it.
                await Task.Delay(MaxRetry, _time, ct).ConfigureAwait(false);
            }
        }

        LockNic(answer.LockPublicNic);
        return true;
    }

    /// <summary>Renews the certificate at <see cref="RenewAt"/>, retrying every minute (at most) until it works.</summary>
    public async Task RenewLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var wait = RenewAt - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, ct).ConfigureAwait(false);
            }

            if (await RenewOnceAsync(ct).ConfigureAwait(false))
            {
                continue;
            }

            var left = CertificateNotAfter - _time.GetUtcNow();
            await Task.Delay(TimeSpan.FromTicks(Math.Clamp(left.Ticks / 10, TimeSpan.FromSeconds(5).Ticks, TimeSpan.FromMinutes(1).Ticks)), _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>One renewal; false when it failed (said on the console).</summary>
    public async Task<bool> RenewOnceAsync(CancellationToken ct)
    {
        try
        {
            var renewal = await _channel.RenewAsync(ct).ConfigureAwait(false);
            using var certificate = X509Certificate2.CreateFromPem(renewal.Certificate);
            var expected = Bundle.Addresses.Select(a => a.Address.ToString()).ToHashSet(StringComparer.Ordinal);
            if (!MeshCertificateAuthority.ChainsToTrustedRoot(certificate, [.. MeshCertificateAuthority.RootsOf(_state.CaBundle)], _time.GetUtcNow(), out var why, Intermediate()))
            {
                _say($"REFUSED renewed certificate: {why}");
                return false;
            }

            lock (_gate)
            {
                CertificateNotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
                CertificateNotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
                _state = _state with { Certificate = renewal.Certificate };
                _save?.Invoke(_state);
                Renewals++;
            }

            _say($"certificate: renewed, valid until {CertificateNotAfter:u}");
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or NodeRevokedException or System.Security.Cryptography.CryptographicException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            _say($"certificate: renewal failed ({e.Message}); valid until {CertificateNotAfter:u}, retrying");
            return false;
        }
    }

    private X509Certificate2? Intermediate()
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPem(_state.CaBundle);
        return all.FirstOrDefault(c => c.Subject != c.Issuer);
    }

    private async Task WatchLoopAsync(CancellationToken ct)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(250), MaxRetry);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await WatchOnceAsync(ct).ConfigureAwait(false) && State == "watching")
                {
                    backoff.Reset();
                    continue;
                }

                await Task.Delay(State == "revoked" ? TimeSpan.FromSeconds(60) : backoff.Next(), _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (WireGuardLinkException e)
            {
                _say($"FAILED: applying the bundle: {e.Message}; retrying");
                await Task.Delay(backoff.Next(), _time, ct).ConfigureAwait(false);
            }
        }
    }

    private void LockNic(bool wanted)
    {
        var port = Bundle.ListenPort;
        if (!wanted || _nicLock is null || (_lockTried && _lockedPort == port))
        {
            return;
        }

        // Tried once per listen port: a failure is said once, not on every watch.
        _lockTried = true;
        _lockedPort = port;
        try
        {
            _nicLock.Lock(_state.BootInterface, port);
            NicLocked = true;
            _say($"public nic: {_state.BootInterface} locked down (nftables table inet {PublicNicFirewall.Table}): inbound only {(port is { } p ? $"WireGuard UDP {p}, " : string.Empty)}DHCP replies and replies to the node's own traffic");
        }
        catch (Exception e) when (e is IOException or WireGuardLinkException)
        {
            NicLocked = false;
            _say($"public nic: NOT locked ({e.Message})");
        }
    }

    private List<PeerReport> PeerReports()
    {
        try
        {
            return [.. _link.Peers().Select(p => new PeerReport(p.PublicKey, p.LastHandshake, p.RxBytes, p.TxBytes))];
        }
        catch (WireGuardLinkException)
        {
            return [];
        }
    }

    private static SignedPeerBundle? Parse(JsonElement envelope) =>
        SignedPeerBundle.TryParse(Encoding.UTF8.GetBytes(envelope.GetRawText()), out var signed, out _) ? signed : null;
}
