using System.Security.Cryptography;
using Kldload.Agent.Trust;
using Kldload.Tpm.Structures;

namespace Kldload.Agent.Tests.Trust;

/// <summary>The pin in TPM NV 0x01804B4C, on a real swtpm, read back by tpm2-tools too.</summary>
[Trait("Tier", "Integration")]
public sealed class TpmCaPinStoreTests : IDisposable
{
    private readonly SwtpmWorkspace _workspace = new("klagent-pin-");

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public void Read_FreshTpm_NoPin()
    {
        using var tpm = _workspace.Swtpm.Connect();
        Assert.Null(new TpmCaPinStore(tpm).Read());
    }

    [Fact]
    public void Write_ThenRestart_PinSurvivesWithDocumentedLayout()
    {
        var hash = SHA256.HashData("mesh root SubjectPublicKeyInfo"u8);
        using (var tpm = _workspace.Swtpm.Connect())
        {
            new TpmCaPinStore(tpm).Write(hash);
        }

        NodeReboot.Reboot(_workspace.Swtpm); // a reboot of the node: orderly TPM shutdown, state saved, TPM started again
        using (var tpm = _workspace.Swtpm.Connect())
        {
            Assert.Equal(hash, new TpmCaPinStore(tpm).Read());
            var (pub, _) = tpm.NvReadPublic(0x01804B4C);
            Assert.Equal(TpmCaPinStore.Attributes | TpmaNv.Written, pub.Flags);
            Assert.Equal(0x02060002u | (uint)TpmaNv.Written, pub.Attributes);
            Assert.Equal(34, pub.DataSize);
            Assert.Equal(TpmAlgId.Sha256, pub.NameAlg);
        }

        _workspace.Swtpm.RunTool("tpm2_nvread", _workspace.Directory, "-C", "o", "-o", Path.Combine(_workspace.Directory, "pin.bin"), "0x1804b4c");
        Assert.Equal([0x00, 0x0B, .. hash], File.ReadAllBytes(Path.Combine(_workspace.Directory, "pin.bin")));
    }

    [Fact]
    public void Write_Again_ReplacesThePin()
    {
        using var tpm = _workspace.Swtpm.Connect();
        var store = new TpmCaPinStore(tpm);
        store.Write(SHA256.HashData("first"u8));
        store.Write(SHA256.HashData("second"u8));
        Assert.Equal(SHA256.HashData("second"u8), store.Read());
    }

    [Fact]
    public void Read_DefinedButNeverWritten_NoPin()
    {
        using var tpm = _workspace.Swtpm.Connect();
        tpm.NvDefineSpace(TpmHandles.Owner, new TpmsNvPublic(TpmCaPinStore.Index, TpmAlgId.Sha256, (uint)TpmCaPinStore.Attributes, [], TpmCaPinStore.Size));
        Assert.Null(new TpmCaPinStore(tpm).Read());
    }

    [Fact]
    public void Read_IndexDefinedBySomeoneElse_RefusedUntilARepinRedefinesIt()
    {
        _workspace.Swtpm.RunTool("tpm2_nvdefine", _workspace.Directory, "-C", "o", "0x1804b4c", "-s", "34", "-a", "ownerread|ownerwrite|authread|authwrite");
        using var tpm = _workspace.Swtpm.Connect();
        var store = new TpmCaPinStore(tpm);
        var e = Assert.Throws<CaPinException>(store.Read);
        Assert.Contains("not the agent's pin", e.Message, StringComparison.Ordinal);

        store.Write(SHA256.HashData("re-pinned"u8)); // what kldload.repin=1 does
        Assert.Equal(SHA256.HashData("re-pinned"u8), store.Read());
        Assert.Equal(TpmCaPinStore.Attributes | TpmaNv.Written, tpm.NvReadPublic(TpmCaPinStore.Index).Public.Flags);
    }
}
