using Kldload.Tpm.Errors;

namespace Kldload.Tpm.Tests.Marshalling;

public class ResponseCodeTests
{
    [Theory]
    [InlineData(0x1DFu, "TPM_RC_INTEGRITY", TpmRcSubject.Parameter, 1)]
    [InlineData(0x99Du, "TPM_RC_POLICY_FAIL", TpmRcSubject.Session, 1)]
    [InlineData(0x18Bu, "TPM_RC_HANDLE", TpmRcSubject.Handle, 1)]
    [InlineData(0x28Bu, "TPM_RC_HANDLE", TpmRcSubject.Handle, 2)]
    [InlineData(0x9A2u, "TPM_RC_BAD_AUTH", TpmRcSubject.Session, 1)]
    [InlineData(0x2C4u, "TPM_RC_VALUE", TpmRcSubject.Parameter, 2)]
    [InlineData(0x922u, "TPM_RC_RETRY", TpmRcSubject.None, 0)]
    [InlineData(0x902u, "TPM_RC_OBJECT_MEMORY", TpmRcSubject.None, 0)]
    [InlineData(0x101u, "TPM_RC_FAILURE", TpmRcSubject.None, 0)]
    [InlineData(0x126u, "TPM_RC_POLICY", TpmRcSubject.None, 0)]
    [InlineData(0x09Du, "TPM_RC_POLICY_FAIL", TpmRcSubject.None, 0)]
    public void Decode_KnownCodes_NameSubjectAndNumber(uint value, string name, TpmRcSubject subject, int number)
    {
        var rc = new TpmResponseCode(value);
        Assert.Equal(name, rc.Name);
        Assert.Equal(subject, rc.Subject);
        Assert.Equal(number, rc.Number);
    }

    [Theory]
    [InlineData(0x922u, true)]
    [InlineData(0x908u, true)]
    [InlineData(0x90Au, true)]
    [InlineData(0x902u, false)]
    [InlineData(0x1DFu, false)]
    public void IsTransient_RetryYieldedTesting_True(uint value, bool transient) => Assert.Equal(transient, new TpmResponseCode(value).IsTransient);

    [Fact]
    public void ToString_Format1_NamesParameter() =>
        Assert.Equal("TPM_RC_INTEGRITY on parameter 1 (0x1df)", new TpmResponseCode(0x1DF).ToString());
}
