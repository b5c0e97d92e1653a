using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests.Swtpm;

[Trait("Tier", "Integration")]
public class SwtpmLifecycleTests
{
    [Fact]
    public void ControlInit_ThenStartup_TpmAnswers()
    {
        using var swtpm = SwtpmProcess.StartFromCapturedState(needInit: true);
        var control = swtpm.Control();
        control.SetLocality(0);
        control.Init();
        using var tpm = swtpm.Connect();
        Assert.True(tpm.Startup());
        Assert.False(tpm.Startup());
        Assert.Equal(16, tpm.GetRandom(16).Length);
        Assert.NotEqual(0ul, control.GetCapability());
    }

    [Fact]
    public void BeforeInit_Command_FailsCleanly()
    {
        using var swtpm = SwtpmProcess.StartFromCapturedState(needInit: true);
        using var tpm = swtpm.Connect();
        Assert.ThrowsAny<Exception>(() => tpm.GetRandom(8));
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public void HmacKey_RestartAndClear_SameThenDifferent()
    {
        using var swtpm = SwtpmProcess.StartFromCapturedState();
        var message = "kldload/wg/v1/epoch=0"u8.ToArray();
        byte[] first, second, third;
        using (var tpm = swtpm.Connect())
        using (var key = TpmHmacKey.Open(tpm))
        {
            first = key.Hmac(message);
            Assert.Equal(first, key.Hmac(message));
            Assert.NotEqual(first, key.Hmac("other"u8));
        }

        swtpm.Restart();
        using (var tpm = swtpm.Connect())
        using (var key = TpmHmacKey.Open(tpm))
        {
            second = key.Hmac(message);
        }

        Assert.Equal(first, second);
        var work = Directory.CreateTempSubdirectory("kltpm-tools-").FullName;
        try
        {
            swtpm.RunTool("tpm2_clear", work, "-c", "p");
        }
        finally
        {
            Directory.Delete(work, true);
        }

        using (var tpm = swtpm.Connect())
        using (var key = TpmHmacKey.Open(tpm))
        {
            third = key.Hmac(message);
            Assert.DoesNotContain(tpm.GetHandles(TpmHandles.TransientFirst), h => h != key.Handle);
        }

        Assert.NotEqual(first, third);
    }

    [Fact]
    public void HmacKey_MessageTooLong_Throws()
    {
        using var swtpm = SwtpmProcess.StartFromCapturedState();
        using var tpm = swtpm.Connect();
        using var key = TpmHmacKey.Open(tpm);
        Assert.Throws<ArgumentException>(() => key.Hmac(new byte[1025]));
    }

    [Fact]
    public void Transport_SwtpmStopped_ThrowsTransportError()
    {
        var swtpm = SwtpmProcess.StartFromCapturedState();
        var tpm = swtpm.Connect();
        swtpm.Stop();
        Assert.Throws<TpmTransportException>(() => tpm.GetRandom(8));
        tpm.Dispose();
        swtpm.Dispose();
    }

    [Fact]
    public void EndorsementKey_EmptyTpm_ReadsNoCertificate()
    {
        using var swtpm = SwtpmProcess.StartEmpty();
        using var tpm = swtpm.Connect();
        Assert.Null(EndorsementKey.ReadCertificate(tpm, EkKind.RsaL1));
        using var ek = EndorsementKey.Create(tpm, EkKind.EccP256L2);
        Assert.Equal(TpmAlgId.Ecc, ek.Public.Type);
    }
}
