using System.Security.Cryptography;
using Kldload.Agent.Trust;
using Kldload.MeshCA;

namespace Kldload.Agent.Tests.Trust;

/// <summary>The pin rule over verified answers: pin first, match, refuse a different CA, re-pin only with the flag.</summary>
public sealed class ProvisionerTrustTests : IDisposable
{
    private readonly TestMesh _mesh = new("site-a");
    private readonly TestMesh _other = new("site-evil");
    private readonly byte[] _wgPublic = WireGuardKey.PublicKeyOf(RandomNumberGenerator.GetBytes(32));
    private readonly List<string> _console = [];

    public void Dispose()
    {
        _mesh.Dispose();
        _other.Dispose();
    }

    private ProvisionerTrust Trust(MemoryPinStore store, bool repin = false) => new(store, repin, TimeProvider.System, _console.Add);

    [Fact]
    public void Accept_NoPin_PinsTheCaThatVouchedForTheAnswer()
    {
        var store = new MemoryPinStore();
        Trust(store).Accept(_mesh.Answer("n1", _wgPublic), _wgPublic, 0);
        Assert.Equal(_mesh.RootKeySha256, store.Pin);
        Assert.Contains(_console, l => l.StartsWith("ca pin: first enrolment: pinned mesh CA sha256:" + Convert.ToHexStringLower(_mesh.RootKeySha256), StringComparison.Ordinal));
    }

    [Fact]
    public void Accept_SameCa_AcceptedWithoutWriting()
    {
        var store = new MemoryPinStore { Pin = _mesh.RootKeySha256 };
        Trust(store).Accept(_mesh.Answer("n1", _wgPublic), _wgPublic, 0);
        Assert.Equal(0, store.Writes);
    }

    [Fact]
    public void Accept_ProvisionerWithAnotherCa_RefusedNamingBothHashes()
    {
        var store = new MemoryPinStore { Pin = _mesh.RootKeySha256 };
        var e = Assert.Throws<CaPinMismatchException>(() => Trust(store).Accept(_other.Answer("n1", _wgPublic), _wgPublic, 0));
        Assert.Equal(_mesh.RootKeySha256, e.Pinned);
        Assert.Equal(_other.RootKeySha256, e.Offered);
        Assert.Contains(Convert.ToHexStringLower(_mesh.RootKeySha256), e.Message, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(_other.RootKeySha256), e.Message, StringComparison.Ordinal);
        Assert.Equal(_mesh.RootKeySha256, store.Pin);
        Assert.Equal(0, store.Writes);
    }

    [Fact]
    public void Accept_AnotherCaWithRepinFlag_ReplacesThePin()
    {
        var store = new MemoryPinStore { Pin = _mesh.RootKeySha256 };
        Trust(store, repin: true).Accept(_other.Answer("n1", _wgPublic), _wgPublic, 0);
        Assert.Equal(_other.RootKeySha256, store.Pin);
        Assert.Contains(_console, l => l.StartsWith("ca pin: re-pinned (kldload.repin=1)", StringComparison.Ordinal));
    }

    [Fact]
    public void Accept_BundleSignedByAnotherCaEvenWithRepinFlag_RefusedAndNothingPinned()
    {
        var store = new MemoryPinStore();
        Assert.Throws<ProvisionerUntrustedException>(() =>
            Trust(store, repin: true).Accept(_mesh.Answer("n1", _wgPublic, bundleSigner: _other.Ca), _wgPublic, 0));
        Assert.Null(store.Pin);
    }

    [Theory]
    [InlineData(false, false, false, "PinFirst")]
    [InlineData(false, false, true, "PinFirst")]
    [InlineData(true, true, false, "Matches")]
    [InlineData(true, true, true, "Matches")]
    [InlineData(true, false, false, "Refuse")]
    [InlineData(true, false, true, "Repin")]
    public void Decide_EveryCase(bool hasPin, bool same, bool repin, string expected)
    {
        byte[] pinned = [1, 2, 3];
        byte[] offered = same ? [1, 2, 3] : [1, 2, 4];
        Assert.Equal(Enum.Parse<CaPinVerdict>(expected), CaPinDecision.Decide(hasPin ? pinned : null, hasPin, offered, repin));
    }
}
