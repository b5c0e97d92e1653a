namespace Kldload.Tftp.Tests;

public class TftpOpcodeTests
{
    [Theory]
    [InlineData(TftpOpcode.ReadRequest, 1)]
    [InlineData(TftpOpcode.Data, 3)]
    [InlineData(TftpOpcode.OptionAck, 6)]
    public void Opcode_MatchesRfc(TftpOpcode opcode, ushort expected) => Assert.Equal(expected, (ushort)opcode);

    [Fact]
    public void ErrorCode_UnknownTransferIdIsFive() => Assert.Equal(5, (ushort)TftpErrorCode.UnknownTransferId);
}
