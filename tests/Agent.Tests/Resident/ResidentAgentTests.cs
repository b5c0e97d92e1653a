using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Agent.Resident;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Agent.Tests.Resident;

/// <summary>The live interface in memory: what <c>wg set</c> would leave, and every change in order.</summary>
internal sealed class MemoryMeshInterface : IMeshInterface
{
    public Dictionary<string, LivePeer> Live { get; } = new(StringComparer.Ordinal);

    public List<string> Changes { get; } = [];

    public int? Port { get; private set; }

    public IReadOnlyList<LivePeer> Peers() => [.. Live.Values];

    public int? ListenPort() => Port;

    public void SetPeer(MeshPeer peer)
    {
        var key = WireGuardKey.ToBase64(peer.PublicKey);
        Live[key] = new LivePeer(key, peer.Endpoint, [.. peer.AllowedIps.Select(n => n.ToString())], null, 0, 0, peer.PersistentKeepalive);
        Changes.Add($"set {peer.Name}");
    }

    public void RemovePeer(string publicKeyBase64)
    {
        Live.Remove(publicKeyBase64);
        Changes.Add($"remove {publicKeyBase64}");
    }

    public void SetListenPort(int port)
    {
        Port = port;
        Changes.Add($"listen-port {port}");
    }
}

/// <summary>kldload's side of the control channel as a script: each watch takes the next answer (or exception).</summary>
internal sealed class ScriptedChannel : IControlChannel
{
    public Queue<Func<WatchRequest, WatchResponse>> Watches { get; } = new();

    public List<WatchRequest> Requests { get; } = [];

    public Func<CertificateRenewal>? Renewal { get; set; }

    public int RenewCalls;

    public Task<WatchResponse> WatchAsync(WatchRequest request, CancellationToken ct)
    {
        Requests.Add(request);
        return Task.FromResult(Watches.Dequeue()(request));
    }

    public Task<CertificateRenewal> RenewAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref RenewCalls);
        return Task.FromResult(Renewal!());
    }
}

internal sealed class RecordingNicLock : INicLock
{
    public List<(string Nic, int? Port)> Calls { get; } = [];

    public void Lock(string nic, int? wireGuardListenPort) => Calls.Add((nic, wireGuardListenPort));
}

/// <summary>
/// The resident agent in process: bundles signed by a real mesh CA (epoch order, foreign signer,
/// conflicting content), applied to an interface kept in memory; certificate renewal on a fake clock.
/// </summary>
public sealed class ResidentAgentTests : IDisposable
{
    private static readonly IPAddress Node6 = IPAddress.Parse("fd12:3456:789a:1:aaaa:bbbb:cccc:dddd");
    private static readonly byte[] HubKey = Key(1);
    private static readonly byte[] PeerB = Key(2);
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-resident-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly MeshCertificateAuthority _ca;
    private readonly List<string> _console = [];
    private readonly MemoryMeshInterface _link = new();
    private readonly ScriptedChannel _channel = new();
    private readonly RecordingNicLock _nic = new();

    public ResidentAgentTests() => _ca = MeshCertificateAuthority.OpenOrCreate(Path.Combine(_dir, "ca"), "site-resident", _time);

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, true);
    }

    private static byte[] Key(byte seed)
    {
        var secret = SHA256.HashData([seed]);
        WireGuardKey.Clamp(secret);
        return WireGuardKey.PublicKeyOf(secret);
    }

    private static PeerBundle Bundle(ulong epoch, bool withB, bool revokeB = false, int? listenPort = null) => new()
    {
        NodeId = "node-a",
        Epoch = epoch,
        IssuedAt = DateTimeOffset.UnixEpoch.AddSeconds(epoch),
        Addresses = [new InterfaceAddress(Node6, 64)],
        ListenPort = listenPort,
        Peers =
        [
            new MeshPeer { Name = PeerBundle.HubName, PublicKey = HubKey, AllowedIps = [IPNetwork.Parse("fd12:3456:789a:1::/64")], Endpoint = "192.0.2.1:51820", PersistentKeepalive = 25 },
            .. withB ? [new MeshPeer { Name = "node-b", PublicKey = PeerB, AllowedIps = [IPNetwork.Parse("fd12:3456:789a:1::b/128")], Endpoint = "192.0.2.11:51820", PersistentKeepalive = 25 }] : Array.Empty<MeshPeer>(),
        ],
        Revoked = revokeB ? [PeerB] : [],
    };

    private static JsonElement Envelope(PeerBundle bundle, MeshCertificateAuthority signer)
    {
        using var json = JsonDocument.Parse(SignedPeerBundle.Sign(bundle, signer).ToJson());
        return json.RootElement.Clone();
    }

    private string Certificate(TimeSpan lifetime)
    {
        using var cert = _ca.Issue(new NodeIdentity { NodeId = "node-a", WireGuardPublicKey = Key(9), EkSha256 = SHA256.HashData("ek"u8), Address6 = Node6 }, lifetime);
        return cert.ExportCertificatePem() + "\n";
    }

    /// <summary>A node Ready at epoch 7 with the hub as its only peer, as the attestation left it.</summary>
    private ResidentAgent Start(Action<ResidentState>? save = null)
    {
        _link.SetPeer(Bundle(7, false).Peers[0]);
        _link.Changes.Clear();
        var state = new ResidentState("node-a", "fd12:3456:789a:1::1", 8080, "eth0", "kl0", _ca.CaBundlePem,
            Convert.ToHexStringLower(SHA256.HashData(_ca.TrustedRoots[0].PublicKey.ExportSubjectPublicKeyInfo())), Certificate(TimeSpan.FromHours(3)), Envelope(Bundle(7, false), _ca));
        return new ResidentAgent(state, _channel, _link, _nic, _time, _console.Add, save);
    }

    [Fact]
    public void Offer_NewerEpochs_PeersAddedThenRevokedPeerRemovedWithoutTouchingTheHub()
    {
        var saved = new List<ResidentState>();
        var agent = Start(saved.Add);

        Assert.Equal(BundleVerdict.Accepted, agent.Offer(Envelope(Bundle(8, withB: true), _ca)));
        Assert.Equal(["set node-b"], _link.Changes);
        Assert.Equal(8ul, agent.AppliedEpoch);

        _link.Changes.Clear();
        Assert.Equal(BundleVerdict.Accepted, agent.Offer(Envelope(Bundle(9, withB: false, revokeB: true), _ca)));
        Assert.Equal([$"remove {WireGuardKey.ToBase64(PeerB)}"], _link.Changes);
        Assert.Equal([WireGuardKey.ToBase64(HubKey)], _link.Live.Keys);
        Assert.Equal(9ul, agent.AppliedEpoch);
        Assert.Contains(_console, l => l.StartsWith("bundle: epoch 8 -> 9 applied (0 peers set, 1 removed", StringComparison.Ordinal));

        // What a restarted agent resumes from is the last good bundle.
        Assert.Equal(2, saved.Count);
        Assert.Equal(Envelope(Bundle(9, false, true), _ca).GetProperty("payload").GetString(), saved[^1].PeerBundle.GetProperty("payload").GetString());
    }

    [Fact]
    public void Offer_OlderEpoch_RefusedSaidAndNothingApplied()
    {
        var agent = Start();
        Assert.Equal(BundleVerdict.Accepted, agent.Offer(Envelope(Bundle(8, withB: true), _ca)));
        _link.Changes.Clear();

        Assert.Equal(BundleVerdict.Stale, agent.Offer(Envelope(Bundle(6, withB: false), _ca)));
        Assert.Empty(_link.Changes);
        Assert.Equal(8ul, agent.AppliedEpoch);
        Assert.Contains(_console, l => l == "REFUSED peer bundle (Stale): epoch 6 is older than the current 8; keeping epoch 8");
    }

    [Fact]
    public void Offer_SignedByAnotherCa_RefusedAsUntrustedSigner()
    {
        var agent = Start();
        using var other = MeshCertificateAuthority.OpenOrCreate(Path.Combine(_dir, "other"), "site-other", _time);

        Assert.Equal(BundleVerdict.UntrustedSigner, agent.Offer(Envelope(Bundle(8, withB: true), other)));
        Assert.Empty(_link.Changes);
        Assert.Equal(7ul, agent.AppliedEpoch);
        Assert.Contains(_console, l => l.StartsWith("REFUSED peer bundle (UntrustedSigner): signer", StringComparison.Ordinal));
    }

    [Fact]
    public void Offer_SameEpochOtherContent_RefusedAsConflicting()
    {
        var agent = Start();
        Assert.Equal(BundleVerdict.Accepted, agent.Offer(Envelope(Bundle(8, withB: true), _ca)));
        Assert.Equal(BundleVerdict.Conflicting, agent.Offer(Envelope(Bundle(8, withB: false), _ca)));
        Assert.True(_link.Live.ContainsKey(WireGuardKey.ToBase64(PeerB)));
    }

    [Fact]
    public void Offer_BitFlippedPayload_RefusedAsBadSignature()
    {
        var agent = Start();
        var envelope = Envelope(Bundle(8, withB: true), _ca);
        var payload = Convert.FromBase64String(envelope.GetProperty("payload").GetString()!);
        payload[^3] ^= 0x01;
        var tampered = JsonSerializer.SerializeToElement(new Dictionary<string, string>
        {
            ["payload"] = Convert.ToBase64String(payload),
            ["signature"] = envelope.GetProperty("signature").GetString()!,
            ["signer"] = envelope.GetProperty("signer").GetString()!,
        });
        Assert.Equal(BundleVerdict.BadSignature, agent.Offer(tampered));
        Assert.Empty(_link.Changes);
    }

    [Fact]
    public async Task Watch_KldloadUnreachable_KeepsTheLastGoodBundleAndSaysSoOnce()
    {
        var agent = Start();
        _channel.Watches.Enqueue(_ => new WatchResponse(8, Envelope(Bundle(8, withB: true), _ca), true, 9100));
        _channel.Watches.Enqueue(_ => throw new HttpRequestException("Connection refused"));
        _channel.Watches.Enqueue(_ => throw new HttpRequestException("Connection refused"));
        _channel.Watches.Enqueue(_ => new WatchResponse(8, null, true, 9100));

        Assert.True(await agent.WatchOnceAsync(CancellationToken.None));
        Assert.Equal(8ul, agent.AppliedEpoch);
        Assert.False(await agent.WatchOnceAsync(CancellationToken.None));
        Assert.False(await agent.WatchOnceAsync(CancellationToken.None));
        Assert.Equal("kldload-unreachable", agent.State);
        Assert.Equal(2, _link.Live.Count); // the hub and node-b stay configured
        Assert.Single(_console, l => l.StartsWith("control channel: kldload unreachable (Connection refused); keeping bundle epoch 8 and its 2 peers", StringComparison.Ordinal));

        Assert.True(await agent.WatchOnceAsync(CancellationToken.None));
        Assert.Equal("watching", agent.State);
        Assert.Equal([7ul, 8ul, 8ul, 8ul], _channel.Requests.Select(r => r.AppliedEpoch));
        Assert.Equal("kldload-unreachable", _channel.Requests[^1].AgentState);
    }

    [Fact]
    public async Task Watch_LockPublicNic_InstalledOnceAndAgainWhenTheListenPortChanges()
    {
        var agent = Start();
        _channel.Watches.Enqueue(_ => new WatchResponse(7, null, true, 9100));
        _channel.Watches.Enqueue(_ => new WatchResponse(7, null, true, 9100));
        _channel.Watches.Enqueue(_ => new WatchResponse(8, Envelope(Bundle(8, withB: true, listenPort: 51820), _ca), true, 9100));

        await agent.WatchOnceAsync(CancellationToken.None);
        await agent.WatchOnceAsync(CancellationToken.None);
        Assert.Equal([("eth0", (int?)null)], _nic.Calls);
        await agent.WatchOnceAsync(CancellationToken.None);
        Assert.Equal([("eth0", (int?)null), ("eth0", (int?)51820)], _nic.Calls);
        Assert.Equal(51820, _link.ListenPort());
        Assert.True(agent.NicLocked);
        Assert.Equal(9100, agent.MetricsPort);
    }

    [Fact]
    public async Task Watch_LockPublicNicOff_NothingInstalled()
    {
        var agent = Start();
        _channel.Watches.Enqueue(_ => new WatchResponse(7, null, false, 9100));
        await agent.WatchOnceAsync(CancellationToken.None);
        Assert.Empty(_nic.Calls);
        Assert.False(agent.NicLocked);
    }

    [Fact]
    public async Task Renewal_FakeClock_NotBeforeTwoThirdsOfTheLifetimeThenRenewedAndRescheduled()
    {
        var agent = Start();
        _channel.Renewal = () => new CertificateRenewal(Certificate(TimeSpan.FromHours(3)), default);
        var firstNotAfter = agent.CertificateNotAfter;
        var renewAt = agent.RenewAt;

        // Issued now for 3 h, backdated 5 min: two thirds of 3 h 5 min after the start is 1 h 58 min 20 s from now.
        Assert.Equal(TimeSpan.FromMinutes(118).Add(TimeSpan.FromSeconds(20)).TotalSeconds, (renewAt - _time.GetUtcNow()).TotalSeconds, 1.0);

        using var cts = new CancellationTokenSource();
        var loop = agent.RenewLoopAsync(cts.Token);
        _time.SetUtcNow(renewAt - TimeSpan.FromSeconds(1));
        await Task.Delay(200);
        Assert.Equal(0, _channel.RenewCalls);

        _time.SetUtcNow(renewAt + TimeSpan.FromSeconds(1));
        await WaitUntil(() => agent.Renewals == 1);
        Assert.Equal(1, _channel.RenewCalls);
        Assert.True(agent.CertificateNotAfter > firstNotAfter);
        Assert.Equal(_time.GetUtcNow().AddHours(3).ToUnixTimeSeconds(), agent.CertificateNotAfter.ToUnixTimeSeconds(), 1.0);
        Assert.True(agent.RenewAt > _time.GetUtcNow());

        // The next renewal waits for the new certificate's two thirds.
        _time.Advance(TimeSpan.FromMinutes(30));
        await Task.Delay(200);
        Assert.Equal(1, _channel.RenewCalls);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);
        Assert.Contains(_console, l => l.StartsWith("certificate: renewed, valid until", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Renewal_KldloadAway_RetriedUntilItWorks()
    {
        var agent = Start();
        var failures = 2;
        _channel.Renewal = () => failures-- > 0 ? throw new HttpRequestException("Connection refused") : new CertificateRenewal(Certificate(TimeSpan.FromHours(3)), default);
        using var cts = new CancellationTokenSource();
        var loop = agent.RenewLoopAsync(cts.Token);
        _time.SetUtcNow(agent.RenewAt + TimeSpan.FromSeconds(1));
        await WaitUntil(() => _channel.RenewCalls == 1);
        await AdvanceUntil(() => _channel.RenewCalls == 2);
        await AdvanceUntil(() => agent.Renewals == 1);
        Assert.Equal(2, _console.Count(l => l.StartsWith("certificate: renewal failed (Connection refused)", StringComparison.Ordinal)));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);
    }

    [Fact]
    public async Task Metrics_ProcAndSysUnderARoot_RenderedAndServedOverHttpOnTheGivenAddressOnly()
    {
        var agent = Start();
        _channel.Watches.Enqueue(_ => new WatchResponse(8, Envelope(Bundle(8, withB: true), _ca), true, 9100));
        await agent.WatchOnceAsync(CancellationToken.None);
        var root = Directory.CreateDirectory(Path.Combine(_dir, "root")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "proc"));
        Directory.CreateDirectory(Path.Combine(root, "sys/block/vda"));
        Directory.CreateDirectory(Path.Combine(root, "sys/class/net/eth0/statistics"));
        File.WriteAllText(Path.Combine(root, "proc/stat"), "cpu  1000 20 300 40000 50 0 7 0 0 0\ncpu0 500 10 150 20000 25 0 3 0 0 0\n");
        File.WriteAllText(Path.Combine(root, "proc/meminfo"), "MemTotal:        2048000 kB\nMemFree:          100000 kB\nMemAvailable:    1024000 kB\n");
        File.WriteAllText(Path.Combine(root, "proc/diskstats"), " 253       0 vda 100 0 2048 30 40 0 4096 50 0 80 80 0 0 0 0\n 253       1 vda1 90 0 2000 30 40 0 4000 50 0 80 80 0 0 0 0\n   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0 0 0 0 0\n");
        File.WriteAllText(Path.Combine(root, "sys/class/net/eth0/statistics/rx_bytes"), "123456\n");
        File.WriteAllText(Path.Combine(root, "sys/class/net/eth0/statistics/tx_bytes"), "654321\n");

        var text = new NodeMetrics(root, agent, _link).Render();
        Assert.Contains("node_cpu_seconds_total{mode=\"user\"} 10\n", text, StringComparison.Ordinal);
        Assert.Contains("node_cpu_seconds_total{mode=\"idle\"} 400\n", text, StringComparison.Ordinal);
        Assert.Contains("node_memory_MemTotal_bytes 2097152000\n", text, StringComparison.Ordinal);
        Assert.Contains("node_memory_MemAvailable_bytes 1048576000\n", text, StringComparison.Ordinal);
        Assert.Contains("node_disk_read_bytes_total{device=\"vda\"} 1048576\n", text, StringComparison.Ordinal);
        Assert.Contains("node_disk_written_bytes_total{device=\"vda\"} 2097152\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("vda1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("loop0", text, StringComparison.Ordinal);
        Assert.Contains("node_network_receive_bytes_total{device=\"eth0\"} 123456\n", text, StringComparison.Ordinal);
        Assert.Contains($"kldload_wireguard_peer_last_handshake_seconds{{peer=\"node-b\",public_key=\"{WireGuardKey.ToBase64(PeerB)}\"}} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("kldload_agent_state{state=\"watching\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("kldload_agent_bundle_epoch 8\n", text, StringComparison.Ordinal);
        Assert.Contains("kldload_agent_public_nic_locked 1\n", text, StringComparison.Ordinal);
        Assert.Equal(text.Split('\n').Count(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)), text.Split('\n').Count(l => l.StartsWith("# HELP ", StringComparison.Ordinal)));

        using var listener = new MetricsListener(new IPEndPoint(IPAddress.Loopback, 0), () => text);
        listener.Start();
        using var cts = new CancellationTokenSource();
        var serving = listener.RunAsync(cts.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{listener.LocalEndpoint.Port}") };
        var scraped = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", scraped.Content.Headers.ContentType!.ToString());
        Assert.Equal(text, await scraped.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/", UriKind.Relative))).StatusCode);
        await cts.CancelAsync();
        await serving;
    }

    /// <summary>
    /// Moves the fake clock a minute (the retry interval) at a time until <paramref name="condition"/>
    /// holds: one advance made before the agent has armed its retry timer would be missed (seen under load).
    /// </summary>
    private async Task AdvanceUntil(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            for (var j = 0; j < 20 && !condition(); j++)
            {
                await Task.Delay(10);
            }
        }

        Assert.True(condition(), "the condition did not come true");
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), "the condition did not come true");
    }
}
