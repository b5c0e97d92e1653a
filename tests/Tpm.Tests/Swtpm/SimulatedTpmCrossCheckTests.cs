using System.Security.Cryptography;
using Kldload.Attest.Bench;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Swtpm;

/// <summary>
/// The fleet generator's software TPM (bench/Attest.Bench) checked against tpm2-tools 5.4 (with the
/// swtpm of the tools cross-check as their TCTI): its quotes pass <c>tpm2_checkquote</c>, and its
/// ActivateCredential recovers the secret of a <c>tpm2_makecredential</c> credential.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class SimulatedTpmCrossCheckTests : IClassFixture<CapturedStateSwtpm>, IDisposable
{
    private static readonly int[] QuotedPcrs = [0, 1, 2, 3, 4, 5, 6, 7, 9];
    private readonly SwtpmProcess _swtpm;
    private readonly string _work = Directory.CreateTempSubdirectory("kltpm-simulated-").FullName;

    public SimulatedTpmCrossCheckTests(CapturedStateSwtpm fixture) => _swtpm = fixture.Swtpm;

    public void Dispose() => Directory.Delete(_work, true);

    private string PathOf(string name) => Path.Combine(_work, name);

    private string Tool(string tool, params string[] args) => _swtpm.RunTool(tool, _work, args);

    private static SimulatedTpm NewTpm(SimulatedEk kind) =>
        new(kind, SimulatedTpm.NewPrivateKey(kind), SimulatedTpm.NewPrivateKey(kind), pcrSeed: 7);

    [Theory]
    [InlineData(SimulatedEk.Rsa2048)]
    [InlineData(SimulatedEk.EccP256)]
    public void Quote_Tpm2Checkquote_Verifies(SimulatedEk kind)
    {
        using var tpm = NewTpm(kind);
        var nonce = RandomNumberGenerator.GetBytes(32);
        var (attest, signature) = tpm.Quote(nonce, QuotedPcrs);
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, QuotedPcrs);
        File.WriteAllBytes(PathOf("ak.pub"), tpm.AkPublic.ToSizedBytes());
        File.WriteAllBytes(PathOf("quote.msg"), attest);
        File.WriteAllBytes(PathOf("quote.sig"), TpmMarshal.ToBytes(signature));
        File.WriteAllBytes(PathOf("quote.pcrs"), ToolsPcrFile.Write(selection, QuotedPcrs.ToDictionary(p => (TpmAlgId.Sha256, p), tpm.Pcr)));

        Tool("tpm2_checkquote", "-u", "ak.pub", "-m", "quote.msg", "-s", "quote.sig", "-f", "quote.pcrs", "-g", "sha256", "-q", Convert.ToHexStringLower(nonce));
        nonce[0] ^= 1;
        Assert.Throws<InvalidOperationException>(() =>
            Tool("tpm2_checkquote", "-u", "ak.pub", "-m", "quote.msg", "-s", "quote.sig", "-f", "quote.pcrs", "-g", "sha256", "-q", Convert.ToHexStringLower(nonce)));
    }

    [Theory]
    [InlineData(SimulatedEk.Rsa2048)]
    [InlineData(SimulatedEk.EccP256)]
    public void ActivateCredential_Tpm2MakecredentialOutput_ReturnsSecret(SimulatedEk kind)
    {
        using var tpm = NewTpm(kind);
        var secret = RandomNumberGenerator.GetBytes(32);
        File.WriteAllBytes(PathOf("ek.pub"), tpm.EkPublic.ToSizedBytes());
        File.WriteAllBytes(PathOf("secret.bin"), secret);
        Tool("tpm2_makecredential", "-T", "none", "-u", "ek.pub", "-s", "secret.bin", "-n", Convert.ToHexStringLower(tpm.AkPublic.Name()), "-o", "cred.blob");
        var made = MadeCredential.FromToolsFile(File.ReadAllBytes(PathOf("cred.blob")));

        Assert.Equal(secret, tpm.ActivateCredential(made.CredentialBlob, made.Secret));
    }

    [Theory]
    [InlineData(SimulatedEk.Rsa2048)]
    [InlineData(SimulatedEk.EccP256)]
    public void ActivateCredential_CredentialForAnotherAk_FailsIntegrity(SimulatedEk kind)
    {
        using var tpm = NewTpm(kind);
        using var other = NewTpm(kind);
        File.WriteAllBytes(PathOf("ek.pub"), tpm.EkPublic.ToSizedBytes());
        File.WriteAllBytes(PathOf("secret.bin"), RandomNumberGenerator.GetBytes(32));
        Tool("tpm2_makecredential", "-T", "none", "-u", "ek.pub", "-s", "secret.bin", "-n", Convert.ToHexStringLower(other.AkPublic.Name()), "-o", "cred.blob");
        var made = MadeCredential.FromToolsFile(File.ReadAllBytes(PathOf("cred.blob")));

        var e = Assert.Throws<CryptographicException>(() => tpm.ActivateCredential(made.CredentialBlob, made.Secret));
        Assert.Contains("TPM_RC_INTEGRITY", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SimulatedEk.Rsa2048)]
    [InlineData(SimulatedEk.EccP256)]
    public void ActivateCredential_CredentialMakerOutput_ReturnsSecret(SimulatedEk kind)
    {
        using var tpm = NewTpm(kind);
        var secret = RandomNumberGenerator.GetBytes(32);
        var made = CredentialMaker.Make(tpm.EkPublic, tpm.AkPublic.Name(), secret);

        Assert.Equal(secret, tpm.ActivateCredential(made.CredentialBlob, made.Secret));
    }
}
