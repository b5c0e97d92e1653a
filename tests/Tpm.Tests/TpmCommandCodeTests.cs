using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Tests;

public class TpmCommandCodeTests
{
    [Theory]
    [InlineData(TpmCommandCode.CreatePrimary, 0x131u)]
    [InlineData(TpmCommandCode.ActivateCredential, 0x147u)]
    [InlineData(TpmCommandCode.Quote, 0x158u)]
    [InlineData(TpmCommandCode.PcrRead, 0x17Eu)]
    public void CommandCode_MatchesPart2Table12(TpmCommandCode code, uint expected) => Assert.Equal(expected, (uint)code);
}
