using System.Net;
using System.Security.Cryptography;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Tests.Tools;
using LiteDB;

namespace Kldload.MeshCA.Tests.Distribution;

/// <summary>A complete mesh CA on a real LiteDB file and a real CA directory, with a manual clock.</summary>
internal sealed class MeshFixture : IDisposable
{
    public MeshFixture(IPeerPolicy? policy = null, string? cidr4 = "100.64.0.0/24", string endpoint = "192.0.2.1:51820", IMeshHub? hub = null, string? hubId = null)
    {
        Dir = new TempDirectory();
        Clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        Db = new LiteDatabase(new ConnectionString { Filename = Dir.File("kldload.db"), Connection = ConnectionType.Direct });
        Ca = MeshCertificateAuthority.OpenOrCreate(Dir.File("meshca"), "test", Clock);
        Ipam = new MeshAddressAllocator(new LiteDbMeshAddressStore(Db), new MeshAddressingOptions
        {
            Prefix6 = IPNetwork.Parse("fd12:3456:789a:1::/64"),
            Cidr4 = cidr4 is null ? null : IPNetwork.Parse(cidr4),
        }, Clock);
        HubPrivateKey = HubKey.LoadOrCreate(Ca.Location);
        Topology = new MeshTopology
        {
            HubPublicKey = WireGuardKey.PublicKeyOf(HubPrivateKey),
            HubAddress6 = Ipam.HubAddress6,
            HubAddress4 = Ipam.HubAddress4,
            Prefix6 = Ipam.Prefix6,
            Cidr4 = Ipam.Cidr4,
            HubEndpoint = endpoint,
            HubListenPort = 51820,
            Keepalive = 25,
            HubId = hubId,
        };
        Policy = policy ?? HubAndSpokePolicy.Instance;
        Roster = new MeshRoster(new LiteDbMeshRosterStore(Db), Topology, Policy, Clock);
        Hub = new RecordingHub();
        Service = new MeshIdentityService(Ca, Ipam, Roster, hub ?? Hub, TimeSpan.FromDays(7));
    }

    public TempDirectory Dir { get; }

    public FakeTimeProvider Clock { get; }

    public LiteDatabase Db { get; }

    public MeshCertificateAuthority Ca { get; }

    public MeshAddressAllocator Ipam { get; }

    public byte[] HubPrivateKey { get; }

    public MeshTopology Topology { get; }

    public MeshRoster Roster { get; }

    public RecordingHub Hub { get; }

    public MeshIdentityService Service { get; }

    public IPeerPolicy Policy { get; }

    /// <summary>
    /// A second provisioner on the same database and CA, with its own hub (key, id, endpoint): what
    /// another site sharing one PostgreSQL sees.
    /// </summary>
    public Site AnotherSite(string hubId, string endpoint)
    {
        var key = NewKey();
        var topology = Topology with { HubPublicKey = key.Public, HubEndpoint = endpoint, HubId = hubId };
        var roster = new MeshRoster(new LiteDbMeshRosterStore(Db), topology, Policy, Clock);
        var hub = new RecordingHub();
        return new Site(roster, hub, new MeshIdentityService(Ca, Ipam, roster, hub, TimeSpan.FromDays(7)));
    }

    /// <summary>The hub record <paramref name="roster"/>'s provisioner announces.</summary>
    public MeshHubRecord HubRecordOf(MeshRoster roster) => new()
    {
        InstanceId = roster.Topology.HubId!,
        PublicKey = roster.Topology.HubPublicKey,
        Endpoint = roster.Topology.HubEndpoint,
        SeenAt = Clock.GetUtcNow(),
    };

    internal sealed record Site(MeshRoster Roster, RecordingHub Hub, MeshIdentityService Service);

    public static (byte[] Private, byte[] Public) NewKey()
    {
        var priv = RandomNumberGenerator.GetBytes(32);
        WireGuardKey.Clamp(priv);
        return (priv, WireGuardKey.PublicKeyOf(priv));
    }

    public static byte[] Ek(string name) => SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(name));

    public PeerBundleVerifier VerifierFor(string nodeId) => new(Ca.TrustedRoots, nodeId, Clock);

    public void Dispose()
    {
        Ca.Dispose();
        Db.Dispose();
        Dir.Dispose();
    }

    /// <summary>Records what the identity service asks the hub to do, as a live hub would apply it.</summary>
    internal sealed class RecordingHub : IMeshHub
    {
        public Dictionary<string, MeshPeer> Peers { get; } = [];

        public bool IsRunning => true;

        public void AddOrUpdatePeer(MeshPeer peer) => Peers[Convert.ToBase64String(peer.PublicKey)] = peer;

        public void RemovePeer(ReadOnlySpan<byte> publicKey) => Peers.Remove(Convert.ToBase64String(publicKey));

        public void Synchronize(PeerBundle hubConfiguration)
        {
            Peers.Clear();
            foreach (var peer in hubConfiguration.Peers)
            {
                AddOrUpdatePeer(peer);
            }
        }
    }
}
