using Kldload.Tpm.Device;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>
/// EK Credential Profile 2.5, 2.2.1.5: a template in NV replaces the default one, a nonce in NV fills the
/// unique field. (tpm2_createek 5.4 ignores both indices, so these tests check the TPM result, not the tool.)
/// </summary>
[Trait("Tier", "Peer")]
public sealed class EkNvOverrideTests : IDisposable
{
    private readonly SwtpmWorkspace _workspace = new("kltpm-nv-");

    public void Dispose() => _workspace.Dispose();

    private void DefineAndWrite(uint index, byte[] data)
    {
        var file = Path.Combine(_workspace.Directory, $"{index:x8}.bin");
        File.WriteAllBytes(file, data);
        var hex = $"0x{index:x8}";
        _workspace.Swtpm.RunTool("tpm2_nvdefine", _workspace.Directory, "-C", "p", hex, "-s", data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-a", "ppwrite|ppread|ownerread|authread|platformcreate|no_da");
        _workspace.Swtpm.RunTool("tpm2_nvwrite", _workspace.Directory, "-C", "p", hex, "-i", file);
    }

    [Fact]
    public void Create_NonceInNv_FillsUniqueAndChangesKey()
    {
        using var tpm = _workspace.Swtpm.Connect();
        byte[] defaultName;
        using (var ek = EndorsementKey.Create(tpm, EkKind.RsaL1))
        {
            defaultName = ek.Name;
        }

        var nonce = "kldload-nonce-0123456789"u8.ToArray();
        DefineAndWrite(0x01C00003, nonce);
        var template = EndorsementKey.ResolveTemplate(tpm, EkKind.RsaL1);
        Assert.Equal(nonce, template.Unique[..nonce.Length]);
        Assert.All(template.Unique[nonce.Length..], b => Assert.Equal(0, b));
        Assert.Equal(256, template.Unique.Length);
        using var withNonce = EndorsementKey.Create(tpm, EkKind.RsaL1);
        Assert.NotEqual(defaultName, withNonce.Name);
        var direct = tpm.CreatePrimary(TpmHandles.Endorsement, template);
        tpm.FlushContext(direct.Handle);
        Assert.Equal(direct.Name, withNonce.Name);
    }

    [Fact]
    public void Create_TemplateInNv_ReplacesDefault()
    {
        using var tpm = _workspace.Swtpm.Connect();
        var stored = TpmTemplates.Ek(EkKind.EccP256H2);
        DefineAndWrite(0x01C0000C, stored.ToBytes());
        using var ek = EndorsementKey.Create(tpm, EkKind.EccP256L2);
        using var high = EndorsementKey.Create(tpm, EkKind.EccP256H2);
        Assert.Equal(high.Public.ToBytes(), ek.Public.ToBytes());
        Assert.False(ek.NeedsPolicySession);
    }
}
