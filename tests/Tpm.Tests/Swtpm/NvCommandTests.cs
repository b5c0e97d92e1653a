using Kldload.Tpm.Errors;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>One empty swtpm for the NV tests of this class; each test uses its own index.</summary>
public sealed class EmptySwtpm : IDisposable
{
    public SwtpmProcess Swtpm { get; } = SwtpmProcess.StartEmpty();

    public void Dispose() => Swtpm.Dispose();
}

/// <summary>TPM2_NV_DefineSpace, NV_Write, NV_Read, NV_ReadPublic and NV_UndefineSpace against swtpm, checked with tpm2-tools.</summary>
[Trait("Tier", "Integration")]
public class NvCommandTests : IClassFixture<EmptySwtpm>
{
    private const TpmaNv OwnerReadWrite = TpmaNv.OwnerWrite | TpmaNv.OwnerRead | TpmaNv.AuthRead | TpmaNv.NoDa;

    private readonly SwtpmProcess _swtpm;

    public NvCommandTests(EmptySwtpm fixture) => _swtpm = fixture.Swtpm;

    private static TpmsNvPublic Index(uint index, ushort size, TpmaNv attributes = OwnerReadWrite) =>
        new(index, TpmAlgId.Sha256, (uint)attributes, [], size);

    [Fact]
    public void DefineWriteRead_OwnerIndex_RoundTripsAndReportsWritten()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800101;
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, 34));
        var (before, _) = tpm.NvReadPublic(index);
        Assert.Equal(index, before.NvIndex);
        Assert.Equal(34, before.DataSize);
        Assert.Equal(OwnerReadWrite, before.Flags);

        var data = Enumerable.Range(0, 34).Select(i => (byte)(i * 7)).ToArray();
        tpm.NvWrite(index, data, authHandle: TpmHandles.Owner);
        var (after, _) = tpm.NvReadPublic(index);
        Assert.True(after.Flags.HasFlag(TpmaNv.Written));
        Assert.Equal(data, tpm.NvRead(index, TpmHandles.Owner));
        Assert.Equal(data, tpm.NvRead(index)); // AUTHREAD with the index's empty authValue

        tpm.NvWrite(index, [0xAA, 0xBB], offset: 32, authHandle: TpmHandles.Owner);
        Assert.Equal([.. data[..32], 0xAA, 0xBB], tpm.NvRead(index, TpmHandles.Owner));

        tpm.NvUndefineSpace(TpmHandles.Owner, index);
        var e = Assert.Throws<TpmException>(() => tpm.NvReadPublic(index));
        Assert.Equal(0x08Bu, e.Code.BaseCode); // TPM_RC_HANDLE
    }

    [Fact]
    public void NvWrite_LargerThanNvBufferMax_IsChunked()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800102;
        var max = (int)tpm.GetTpmProperty(0x12C)!.Value; // TPM_PT_NV_BUFFER_MAX
        var data = new byte[max + 300];
        Random.Shared.NextBytes(data);
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, (ushort)data.Length));
        try
        {
            tpm.NvWrite(index, data, authHandle: TpmHandles.Owner);
            Assert.Equal(data, tpm.NvRead(index, TpmHandles.Owner));
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, index);
        }
    }

    [Fact]
    public void NvDefineSpace_IndexExists_FailsWithNvDefined()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800103;
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, 8));
        try
        {
            var e = Assert.Throws<TpmException>(() => tpm.NvDefineSpace(TpmHandles.Owner, Index(index, 8)));
            Assert.Equal(0x14Cu, e.Code.BaseCode); // TPM_RC_NV_DEFINED
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, index);
        }
    }

    [Fact]
    public void NvRead_NeverWritten_FailsWithNvUninitialized()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800104;
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, 8));
        try
        {
            var e = Assert.Throws<TpmException>(() => tpm.NvRead(index, TpmHandles.Owner));
            Assert.Equal(0x14Au, e.Code.BaseCode); // TPM_RC_NV_UNINITIALIZED
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, index);
        }
    }

    [Fact]
    public void NvWrite_OwnerOnlyIndexWithIndexAuth_FailsWithAuthUnavailable()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800105;
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, 8, TpmaNv.OwnerWrite | TpmaNv.OwnerRead));
        try
        {
            var e = Assert.Throws<TpmException>(() => tpm.NvWrite(index, new byte[8])); // authorized by the index, not the owner
            Assert.Equal(0x12Fu, e.Code.BaseCode); // TPM_RC_AUTH_UNAVAILABLE: no TPMA_NV_AUTHWRITE
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, index);
        }
    }

    [Fact]
    public void NvDefineSpace_AgreesWithTpm2Tools()
    {
        using var tpm = _swtpm.Connect();
        const uint index = 0x01800106;
        var data = "kldload nv cross-check, 34 bytes!!"u8.ToArray();
        tpm.NvDefineSpace(TpmHandles.Owner, Index(index, (ushort)data.Length));
        tpm.NvWrite(index, data, authHandle: TpmHandles.Owner);
        var dir = Directory.CreateTempSubdirectory("kltpm-nv-").FullName;
        try
        {
            var pub = _swtpm.RunTool("tpm2_nvreadpublic", dir, "0x1800106");
            Assert.Contains("ownerwrite|ownerread|authread|no_da|written", pub, StringComparison.Ordinal);
            Assert.Contains("size: 34", pub, StringComparison.Ordinal);
            _swtpm.RunTool("tpm2_nvread", dir, "-C", "o", "-o", Path.Combine(dir, "out.bin"), "0x1800106");
            Assert.Equal(data, File.ReadAllBytes(Path.Combine(dir, "out.bin")));

            // and the other way: tpm2-tools writes, we read
            File.WriteAllBytes(Path.Combine(dir, "in.bin"), [.. data.Reverse()]);
            _swtpm.RunTool("tpm2_nvwrite", dir, "-C", "o", "-i", Path.Combine(dir, "in.bin"), "0x1800106");
            Assert.Equal(data.Reverse(), tpm.NvRead(index, TpmHandles.Owner));
        }
        finally
        {
            tpm.NvUndefineSpace(TpmHandles.Owner, index);
            Directory.Delete(dir, true);
        }
    }
}
