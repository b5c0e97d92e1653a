using Kldload.Agent.Install;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Structures;

namespace Kldload.Agent.Tests.Install;

/// <summary>
/// The pool key sealed to PCRs 0 and 7 of a real swtpm (Debian's), written as the ESP's file and read
/// back: the same TPM in the same state releases it; a changed PCR 0 (a firmware change) refuses
/// with the policy error; another TPM (another swtpm, its own seeds: another machine) cannot load it.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class SealedPoolKeyTests : IDisposable
{
    private readonly SwtpmProcess _machine = SwtpmProcess.StartFromCapturedState();

    public void Dispose() => _machine.Dispose();

    /// <summary>Seals a fresh key and returns it with the file's bytes, as the install writes them to the ESP.</summary>
    private (byte[] Key, byte[] File) SealToFile()
    {
        using var tpm = _machine.Connect();
        var key = SealedPoolKey.NewKey();
        return (key, SealedPoolKey.Seal(tpm, key).ToBytes());
    }

    private static void AssertNoTransientObjects(Tpm2 tpm) => Assert.Empty(tpm.GetHandles(TpmHandles.TransientFirst));

    [Fact]
    public void Unseal_SameTpmSamePcrs_ReturnsTheKeyFromTheFile()
    {
        var (key, file) = SealToFile();

        using var tpm = _machine.Connect();
        var read = SealedPoolKey.Parse(file);

        Assert.Equal(32, key.Length);
        Assert.Equal(key, read.Unseal(tpm));
        Assert.Equal([(TpmAlgId.Sha256, 0), (TpmAlgId.Sha256, 7)], read.Pcrs.Enumerate());
        Assert.Equal(file, read.ToBytes());
        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void Unseal_AfterPcr0Extended_FailsWithPolicyFail()
    {
        var (_, file) = SealToFile();
        var work = Directory.CreateTempSubdirectory("kldload-poolkey-").FullName;
        try
        {
            // A firmware update as the TPM sees it: PCR 0 holds another value.
            _machine.RunTool("tpm2_pcrextend", work, "0:sha256=" + new string('b', 64));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }

        using var tpm = _machine.Connect();
        var e = Assert.Throws<TpmException>(() => SealedPoolKey.Parse(file).Unseal(tpm));

        Assert.Equal("TPM_RC_POLICY_FAIL", e.RcName);
        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void Unseal_OnAnotherTpm_CannotLoadTheSealedObject()
    {
        var (_, file) = SealToFile();
        using var other = SwtpmProcess.StartEmpty();
        using var tpm = other.Connect();

        var e = Assert.Throws<TpmException>(() => SealedPoolKey.Parse(file).Unseal(tpm));

        Assert.Equal("TPM_RC_INTEGRITY", e.RcName);
        Assert.Equal(TpmCommandCode.Load, e.Command);
        AssertNoTransientObjects(tpm);
    }

    [Fact]
    public void Parse_TruncatedOrForeignFile_IsAFormatError()
    {
        var (_, file) = SealToFile();

        for (var length = 0; length < file.Length; length++)
        {
            Assert.Throws<TpmFormatException>(() => SealedPoolKey.Parse(file.AsSpan(0, length)));
        }

        Assert.Throws<TpmFormatException>(() => SealedPoolKey.Parse([.. file, 0]));
        Assert.Throws<TpmFormatException>(() => SealedPoolKey.Parse([(byte)'X', .. file.AsSpan(1)]));
    }

    [Fact]
    public void Seal_KeyNotThirtyTwoBytes_Refused()
    {
        using var tpm = _machine.Connect();

        Assert.Throws<ArgumentException>(() => SealedPoolKey.Seal(tpm, new byte[16]));
    }
}
