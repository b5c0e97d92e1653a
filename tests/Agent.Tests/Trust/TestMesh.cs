using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;

namespace Kldload.Agent.Tests.Trust;

/// <summary>
/// A provisioner's mesh CA (the real <see cref="MeshCertificateAuthority"/>, in a temp directory) and the
/// activate answers it gives: node certificate, caBundle, signed peer bundle and the wg-quick text.
/// </summary>
internal sealed class TestMesh : IDisposable
{
    public static readonly IPAddress Node6 = IPAddress.Parse("fd12:3456:789a:1:aaaa:bbbb:cccc:dddd");

    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-mesh-").FullName;

    public TestMesh(string site) => Ca = MeshCertificateAuthority.OpenOrCreate(_dir, site, TimeProvider.System);

    public MeshCertificateAuthority Ca { get; }

    /// <summary>SHA-256 of the root's DER SubjectPublicKeyInfo: what the agent pins.</summary>
    public byte[] RootKeySha256 => SHA256.HashData(Ca.TrustedRoots[0].PublicKey.ExportSubjectPublicKeyInfo());

    public static byte[] HubKey { get; } = WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32));

    public static PeerBundle Bundle(string nodeId, uint keyEpoch, string hubEndpoint = "192.0.2.1:51820") => new()
    {
        NodeId = nodeId,
        Epoch = 7,
        IssuedAt = DateTimeOffset.UtcNow,
        KeyEpoch = keyEpoch,
        Addresses = [new InterfaceAddress(Node6, 64)],
        Peers =
        [
            new MeshPeer
            {
                Name = PeerBundle.HubName,
                PublicKey = HubKey,
                AllowedIps = [IPNetwork.Parse("fd12:3456:789a:1::/64")],
                Endpoint = hubEndpoint,
                PersistentKeepalive = 25,
            },
        ],
        Revoked = [],
    };

    /// <summary>
    /// The activate answer this CA gives <paramref name="nodeId"/> with <paramref name="wgPublic"/>;
    /// <paramref name="bundleSigner"/> signs the peer bundle instead when given (attack 7).
    /// </summary>
    /// <paramref name="meshIdentity"/> is the id certified (another node's after a replace).
    public ActivateResponse Answer(string nodeId, byte[] wgPublic, uint keyEpoch = 0, MeshCertificateAuthority? bundleSigner = null, PeerBundle? bundle = null, string? meshIdentity = null)
    {
        using var cert = Ca.Issue(new NodeIdentity
        {
            NodeId = meshIdentity ?? nodeId,
            WireGuardPublicKey = wgPublic,
            EkSha256 = SHA256.HashData("ek"u8),
            Address6 = Node6,
        }, TimeSpan.FromDays(1));
        bundle ??= Bundle(meshIdentity ?? nodeId, keyEpoch);
        var signed = SignedPeerBundle.Sign(bundle, bundleSigner ?? Ca);
        using var json = JsonDocument.Parse(signed.ToJson());
        return new ActivateResponse(nodeId, "Attested", Node6.ToString(), cert.ExportCertificatePem() + "\n", Ca.CaBundlePem,
            WireGuardConfigRenderer.RenderWgQuick(bundle), json.RootElement.Clone(), null);
    }

    public void Dispose()
    {
        Ca.Dispose();
        Directory.Delete(_dir, true);
    }
}

/// <summary>A pin kept in memory, for the rule tests.</summary>
internal sealed class MemoryPinStore : Kldload.Agent.Trust.ICaPinStore
{
    public byte[]? Pin { get; set; }

    public int Writes { get; private set; }

    public string Location => "memory";

    public byte[]? Read() => Pin;

    public void Write(byte[] caKeySha256)
    {
        Pin = caKeySha256;
        Writes++;
    }
}
