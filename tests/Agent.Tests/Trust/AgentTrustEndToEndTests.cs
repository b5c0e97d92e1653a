using Kldload.Agent.Trust;
using Kldload.MeshCA;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Structures;

namespace Kldload.Agent.Tests.Trust;

/// <summary>
/// Issue 13, attack 7, end to end: the agent's own attestation client and trust step, with a real TPM
/// (swtpm) holding the pin, against a provisioner on loopback HTTP. A "boot" is one attestation; a
/// "reboot" restarts swtpm on its saved state.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class AgentTrustEndToEndTests : IClassFixture<ManufacturedSwtpm>, IAsyncLifetime, IDisposable
{
    private readonly SwtpmProcess _swtpm;
    private readonly TestMesh _genuine = new("site-genuine");
    private readonly TestMesh _attacker = new("site-attacker");
    private readonly List<string> _console = [];
    private StandInProvisioner _server = null!;

    public AgentTrustEndToEndTests(ManufacturedSwtpm tpm) => _swtpm = tpm.Swtpm;

    public async Task InitializeAsync()
    {
        _server = await StandInProvisioner.StartAsync(_genuine);
        using var tpm = _swtpm.Connect();
        try
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, TpmCaPinStore.Index); // every test starts as a node never enrolled
        }
        catch (TpmException)
        {
        }
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _genuine.Dispose();
        _attacker.Dispose();
    }

    /// <summary>One boot's attestation and trust step, as <see cref="NodeAgent"/> runs them.</summary>
    private async Task<(AttestationOutcome Outcome, VerifiedActivation? Verified, int? Exit)> BootAsync(bool repin = false)
    {
        using var tpm = _swtpm.Connect();
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        var trust = new ProvisionerTrust(new TpmCaPinStore(tpm), repin, TimeProvider.System, _console.Add);
        trust.Announce();
        var outcome = await new AttestationClient(http, tpm, "boot-token", _console.Add).AttestAsync("52:54:00:12:34:56", null, null, CancellationToken.None);
        try
        {
            return (outcome, trust.Accept(outcome.Activation, outcome.WireGuardPublicKey, outcome.KeyEpoch), null);
        }
        catch (Exception e) when (e is ProvisionerUntrustedException or CaPinMismatchException or CaPinException)
        {
            return (outcome, null, NodeAgent.Refuse(e, _server.BaseAddress, _console.Add));
        }
    }

    private byte[]? Pin()
    {
        using var tpm = _swtpm.Connect();
        return new TpmCaPinStore(tpm).Read();
    }

    private byte[] WireGuardPublicAt(uint epoch)
    {
        using var tpm = _swtpm.Connect();
        using var key = TpmHmacKey.Open(tpm);
        return WireGuardKey.PublicKeyOf(WireGuardKeyDerivation.DerivePrivateKey(new HmacAdapter(key), epoch));
    }

    private sealed class HmacAdapter(TpmHmacKey key) : ITpmHmac
    {
        public byte[] Hmac(ReadOnlySpan<byte> message) => key.Hmac(message);
    }

    [Fact]
    public async Task FirstBoot_GenuineProvisioner_EccEkWithCertificateKeyEpochFromChallengeAndPinned()
    {
        _server.KeyEpoch = 2;
        var (outcome, verified, exit) = await BootAsync();
        Assert.Null(exit);
        Assert.NotNull(verified);
        Assert.Equal(TpmAlgId.Ecc, _server.LastEk!.Type); // the TPM has an ECC EK certificate: ECC preferred
        Assert.NotNull(_server.LastEkCertificate);
        Assert.Contains(_console, l => l.Contains("EccP384H3 persistent 0x81010016", StringComparison.Ordinal));
        Assert.Equal(2u, outcome.KeyEpoch);
        Assert.Equal(WireGuardPublicAt(2), _server.LastWireGuardKey);
        Assert.NotEqual(WireGuardPublicAt(0), _server.LastWireGuardKey);
        Assert.Equal(2u, verified.Bundle.KeyEpoch);
        Assert.Equal(_genuine.RootKeySha256, Pin());
        Assert.Contains(_console, l => l.StartsWith("ca pin: none in TPM NV 0x01804B4C", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Boot_ServerWithoutKeyEpoch_DerivesEpochZero()
    {
        _server.KeyEpoch = null;
        var (outcome, verified, _) = await BootAsync();
        Assert.NotNull(verified);
        Assert.Equal(0u, outcome.KeyEpoch);
        Assert.Equal(WireGuardPublicAt(0), _server.LastWireGuardKey);
    }

    [Fact]
    public async Task Reboot_ProvisionerWithAnotherCa_RefusedLoudlyNamingBothHashes()
    {
        Assert.NotNull((await BootAsync()).Verified);
        NodeReboot.Reboot(_swtpm);

        _server.Mesh = _attacker; // someone else answers on the path, with a CA of its own
        var (_, verified, exit) = await BootAsync();
        Assert.Null(verified);
        Assert.Equal(NodeAgent.ExitRefused, exit);
        Assert.Contains(_console, l => l == $"REFUSED: expected (pinned) sha256:{Convert.ToHexStringLower(_genuine.RootKeySha256)}, " +
            $"offered by {_server.BaseAddress} sha256:{Convert.ToHexStringLower(_attacker.RootKeySha256)}");
        Assert.Equal(_genuine.RootKeySha256, Pin());
    }

    [Fact]
    public async Task Reboot_PeerBundleSignedByAnotherCa_Refused()
    {
        Assert.NotNull((await BootAsync()).Verified);
        NodeReboot.Reboot(_swtpm);

        _server.BundleSigner = _attacker.Ca; // the genuine certificate, peers and endpoints chosen by someone else
        var (_, verified, exit) = await BootAsync();
        Assert.Null(verified);
        Assert.Equal(NodeAgent.ExitRefused, exit);
        Assert.Contains(_console, l => l.StartsWith("REFUSED: the answer of", StringComparison.Ordinal) && l.Contains("PeerBundleRefused", StringComparison.Ordinal));
        Assert.Equal(_genuine.RootKeySha256, Pin());
    }

    [Fact]
    public async Task FirstBoot_PeerBundleSignedByAnotherCa_RefusedAndNothingPinned()
    {
        _server.BundleSigner = _attacker.Ca;
        var (_, verified, exit) = await BootAsync();
        Assert.Null(verified);
        Assert.Equal(NodeAgent.ExitRefused, exit);
        Assert.Null(Pin());
    }

    [Fact]
    public async Task Reboot_AnotherCaWithRepinFlag_Repinned()
    {
        Assert.NotNull((await BootAsync()).Verified);
        NodeReboot.Reboot(_swtpm);

        _server.Mesh = _attacker; // here: the operator's new provisioner, after `kldload nodes replace`
        var (_, verified, exit) = await BootAsync(repin: true);
        Assert.Null(exit);
        Assert.NotNull(verified);
        Assert.Equal(_attacker.RootKeySha256, Pin());

        var (_, _, again) = await BootAsync(); // the next boot without the flag keeps the new pin
        Assert.Null(again);
    }
}
