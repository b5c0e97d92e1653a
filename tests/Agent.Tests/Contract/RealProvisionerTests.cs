using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Agent.Trust;

namespace Kldload.Agent.Tests.Contract;

/// <summary>
/// The agent's attestation client and trust step against the real kldload host (in process, LiteDB,
/// MeshCA): the wire contract holds both ways, the real answer verifies and pins the real mesh root,
/// and a second provisioner (another data directory, so another CA) is refused.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class RealProvisionerTests : IClassFixture<ManufacturedSwtpm>, IDisposable
{
    private readonly SwtpmProcess _swtpm;
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-real-").FullName;
    private readonly List<string> _console = [];

    public RealProvisionerTests(ManufacturedSwtpm tpm) => _swtpm = tpm.Swtpm;

    public void Dispose() => Directory.Delete(_dir, true);

    private async Task<TestHost> StartAsync(string name)
    {
        var images = new FixedImages();
        images.Channels["stable"] = FixedImages.Image("live", "1");
        return await TestHost.StartAsync(Path.Combine(_dir, name), images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");
    }

    private async Task<(VerifiedActivation? Verified, int? Exit)> BootAsync(TestHost host)
    {
        const string mac = "52:54:00:aa:bb:01";
        var script = await host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
        var token = script.Split("kldload.token=")[1].Split('\n')[0].Split(' ')[0].Trim();
        using var tpm = _swtpm.Connect();
        var trust = new ProvisionerTrust(new TpmCaPinStore(tpm), false, TimeProvider.System, _console.Add);
        var outcome = await new AttestationClient(host.Http, tpm, token, _console.Add).AttestAsync(mac, null, null, CancellationToken.None);
        try
        {
            return (trust.Accept(outcome.Activation, outcome.WireGuardPublicKey, outcome.KeyEpoch), null);
        }
        catch (Exception e) when (e is ProvisionerUntrustedException or CaPinMismatchException)
        {
            return (null, NodeAgent.Refuse(e, host.Http.BaseAddress!, _console.Add));
        }
    }

    [Fact]
    public async Task RealHost_VerifiesAndPinsThenAnotherProvisionerIsRefused()
    {
        byte[] root;
        await using (var host = await StartAsync("genuine"))
        {
            var (verified, exit) = await BootAsync(host);
            Assert.True(exit is null, string.Join('\n', _console));
            using var rootCert = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(host.DataDir, "meshca", "root.pem")));
            root = SHA256.HashData(rootCert.PublicKey.ExportSubjectPublicKeyInfo());
            Assert.Equal(root, verified!.CaKeySha256);
            Assert.False(verified.OfferedConfigurationDiffers);
            Assert.Equal(verified.NodeId, verified.MeshIdentity);

            var (again, exit2) = await BootAsync(host); // the next boot, same provisioner
            Assert.Null(exit2);
            Assert.Equal(root, again!.CaKeySha256);
        }

        await using (var other = await StartAsync("other"))
        {
            var (verified, exit) = await BootAsync(other);
            Assert.Null(verified);
            Assert.Equal(NodeAgent.ExitRefused, exit);
            Assert.Contains(_console, l => l.StartsWith($"REFUSED: expected (pinned) sha256:{Convert.ToHexStringLower(root)}", StringComparison.Ordinal));
        }
    }
}
