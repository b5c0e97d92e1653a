using System.Text;
using Kldload.Bmc.Ipmi.Protocol;

namespace Kldload.Bmc.Tests.Ipmi;

/// <summary>Every message of an RMCP+ session setup, against ipmitool's bytes from a real session with ipmi_sim.</summary>
public sealed class SessionCodecTests
{
    private static readonly byte[] UserName = Encoding.ASCII.GetBytes(CapturedSuite3.User);

    [Fact]
    public void Ipmi15Frame_GetChannelAuthCaps_MatchesIpmitoolBytes()
    {
        var request = new IpmiRequest(IpmiNetFn.App, IpmiCommand.GetChannelAuthenticationCapabilities, 0, new byte[] { 0x8E, 0x04 });
        var buffer = new byte[64];

        Assert.True(Ipmi15Frame.TryWrite(request, buffer, out var written));

        Assert.Equal(CapturedSuite3.GetChannelAuthCapsRequest, buffer[..written]);
    }

    [Fact]
    public void Ipmi15Frame_CapturedCapabilities_ReadsIpmi20Support()
    {
        Assert.True(Ipmi15Frame.TryRead(CapturedSuite3.GetChannelAuthCapsResponse, out var response, out var error), error);
        Assert.Equal(IpmiCommand.GetChannelAuthenticationCapabilities, response.Command);
        Assert.Equal(0, response.CompletionCode);
        Assert.True(ChannelAuthenticationCapabilities.TryRead(response.Data.Span, out var caps, out error), error);
        Assert.True(caps.SupportsIpmi20);
        Assert.Equal(1, caps.Channel);
    }

    [Fact]
    public void OpenSessionRequest_Suite3_MatchesIpmitoolBytes()
    {
        // ipmitool asks for privilege 0: "the highest level matching the proposed algorithms".
        var request = new OpenSessionRequest(0, 0, CapturedSuite3.ConsoleSessionId, CipherSuite.Suite3);
        var payload = new byte[OpenSessionRequest.Size];
        Assert.True(request.TryWrite(payload, out _));
        var buffer = new byte[128];

        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.OpenSessionRequest, 0, 0, payload, null, default, buffer, out var written));

        Assert.Equal(CapturedSuite3.OpenSessionRequest, buffer[..written]);
    }

    [Fact]
    public void OpenSessionResponse_Captured_ReadsSessionAndSuite3()
    {
        Assert.True(RmcpPlusFrame.TryRead(CapturedSuite3.OpenSessionResponse, null, out var packet, out var error), error);
        Assert.Equal(IpmiPayloadType.OpenSessionResponse, packet.PayloadType);
        Assert.True(OpenSessionResponse.TryRead(packet.Payload.Span, out var response, out error), error);

        Assert.Equal(RmcpPlusStatus.NoErrors, response.Status);
        Assert.Equal(CapturedSuite3.ConsoleSessionId, response.ConsoleSessionId);
        Assert.Equal(CapturedSuite3.BmcSessionId, response.BmcSessionId);
        Assert.Equal(IpmiAuthenticationAlgorithm.HmacSha1, response.Authentication);
        Assert.Equal(IpmiIntegrityAlgorithm.HmacSha1_96, response.Integrity);
        Assert.Equal(IpmiConfidentialityAlgorithm.AesCbc128, response.Confidentiality);
    }

    [Fact]
    public void OpenSessionResponse_IpmiSimRefusesSuite17_TwoBytePayloadReadsAsRefusal()
    {
        // ipmi_sim's answer to an Open Session Request for suite 17: only the tag (01) and the status.
        Assert.True(RmcpPlusFrame.TryRead(Hex.Bytes("06 00 ff 07 06 11 00 00 00 00 00 00 00 00 02 00 01 04"), null, out var packet, out var error), error);
        Assert.True(OpenSessionResponse.TryRead(packet.Payload.Span, out var response, out error), error);

        Assert.Equal(1, response.Tag);
        Assert.Equal(RmcpPlusStatus.InvalidAuthenticationAlgorithm, response.Status);
    }

    [Fact]
    public void Rakp1_Captured_MatchesIpmitoolBytes()
    {
        var message = new Rakp1(0, CapturedSuite3.BmcSessionId, CapturedSuite3.ConsoleRandom, RakpKeyExchange.RoleByte(IpmiPrivilege.Administrator), UserName);
        var payload = new byte[message.Size];
        Assert.True(message.TryWrite(payload, out _));
        var buffer = new byte[128];

        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.Rakp1, 0, 0, payload, null, default, buffer, out var written));

        Assert.Equal(CapturedSuite3.Rakp1, buffer[..written]);
    }

    [Fact]
    public void Rakp2_Captured_CodeVerifiesWithThePassword()
    {
        Assert.True(RmcpPlusFrame.TryRead(CapturedSuite3.Rakp2, null, out var packet, out var error), error);
        Assert.True(Rakp2.TryRead(packet.Payload.Span, out var rakp2, out error), error);
        Assert.Equal(CapturedSuite3.BmcRandom, rakp2.BmcRandom.ToArray());
        Assert.Equal(CapturedSuite3.BmcGuid, rakp2.BmcGuid.ToArray());
        var exchange = new RakpKeyExchange(CipherSuite.Suite3, Encoding.ASCII.GetBytes(CapturedSuite3.Password));

        var expected = exchange.Rakp2Code(CapturedSuite3.ConsoleSessionId, CapturedSuite3.BmcSessionId, CapturedSuite3.ConsoleRandom, rakp2.BmcRandom.Span, rakp2.BmcGuid.Span, CapturedSuite3.Role, UserName);

        Assert.Equal(CapturedSuite3.Rakp2Code, expected);
        Assert.True(RakpKeyExchange.CodesMatch(rakp2.AuthCode.Span, expected));
    }

    [Fact]
    public void Rakp2_WrongPassword_CodeDoesNotVerify()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite3, Encoding.ASCII.GetBytes("s3creT"));

        var expected = exchange.Rakp2Code(CapturedSuite3.ConsoleSessionId, CapturedSuite3.BmcSessionId, CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcRandom, CapturedSuite3.BmcGuid, CapturedSuite3.Role, UserName);

        Assert.False(RakpKeyExchange.CodesMatch(CapturedSuite3.Rakp2Code, expected));
    }

    [Fact]
    public void Rakp3_Captured_MatchesIpmitoolBytes()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite3, Encoding.ASCII.GetBytes(CapturedSuite3.Password));
        var code = exchange.Rakp3Code(CapturedSuite3.BmcRandom, CapturedSuite3.ConsoleSessionId, CapturedSuite3.Role, UserName);
        Assert.Equal(CapturedSuite3.Rakp3Code, code);
        var message = new Rakp3(0, RmcpPlusStatus.NoErrors, CapturedSuite3.BmcSessionId, code);
        var payload = new byte[message.Size];
        Assert.True(message.TryWrite(payload, out _));
        var buffer = new byte[128];

        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.Rakp3, 0, 0, payload, null, default, buffer, out var written));

        Assert.Equal(CapturedSuite3.Rakp3, buffer[..written]);
    }

    [Fact]
    public void SessionKeys_Captured_SikK1K2AndRakp4MatchIpmitool()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite3, Encoding.ASCII.GetBytes(CapturedSuite3.Password));

        var sik = exchange.SessionIntegrityKey(CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcRandom, CapturedSuite3.Role, UserName);

        Assert.Equal(CapturedSuite3.Sik, sik);
        Assert.Equal(CapturedSuite3.K1, exchange.K1(sik));
        Assert.Equal(CapturedSuite3.K2, exchange.K2(sik));
        Assert.True(RmcpPlusFrame.TryRead(CapturedSuite3.Rakp4, null, out var packet, out var error), error);
        Assert.True(Rakp4.TryRead(packet.Payload.Span, out var rakp4, out error), error);
        Assert.Equal(RmcpPlusStatus.NoErrors, rakp4.Status);
        Assert.Equal(CapturedSuite3.Rakp4Icv, exchange.Rakp4Icv(sik, CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcSessionId, CapturedSuite3.BmcGuid));
        Assert.Equal(CapturedSuite3.Rakp4Icv, rakp4.IntegrityCheckValue.ToArray());
    }

    [Fact]
    public void RmcpPlusFrame_CapturedIvAndKeys_WritesIpmitoolsEncryptedSignedPacket()
    {
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite3, CapturedSuite3.K1, CapturedSuite3.K2);
        var message = new byte[8];
        new IpmiRequest(IpmiNetFn.App, IpmiCommand.SetSessionPrivilegeLevel, 1, new byte[] { 0x04 }).TryWrite(message, out _);
        var buffer = new byte[RmcpPlusFrame.MaximumDatagram];

        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.IpmiMessage, CapturedSuite3.BmcSessionId, 3, message, keys, CapturedSuite3.SetPrivilegeIv, buffer, out var written));

        Assert.Equal(CapturedSuite3.SetPrivilegeRequest, buffer[..written]);
    }

    [Fact]
    public void RmcpPlusFrame_CapturedResponse_VerifiesAndDecrypts()
    {
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite3, CapturedSuite3.K1, CapturedSuite3.K2);

        Assert.True(RmcpPlusFrame.TryRead(CapturedSuite3.SetPrivilegeResponse, keys, out var packet, out var error), error);

        Assert.True(packet.Authenticated);
        Assert.True(packet.Encrypted);
        Assert.Equal(CapturedSuite3.ConsoleSessionId, packet.SessionId);
        Assert.Equal(1u, packet.Sequence);
        Assert.Equal(CapturedSuite3.SetPrivilegeResponseMessage, packet.Payload.ToArray());
        Assert.True(IpmiResponse.TryRead(packet.Payload.Span, out var response, out error), error);
        Assert.Equal(IpmiCommand.SetSessionPrivilegeLevel, response.Command);
        Assert.Equal(0, response.CompletionCode);
        Assert.Equal(new byte[] { 0x04 }, response.Data.ToArray());
    }

    public static TheoryData<int> SetPrivilegeResponseLengths() => [.. Enumerable.Range(0, CapturedSuite3.SetPrivilegeResponse.Length)];

    [Theory]
    [MemberData(nameof(SetPrivilegeResponseLengths))]
    public void RmcpPlusFrame_EveryTruncation_FailsCleanly(int length)
    {
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite3, CapturedSuite3.K1, CapturedSuite3.K2);

        Assert.False(RmcpPlusFrame.TryRead(CapturedSuite3.SetPrivilegeResponse.AsSpan(0, length), keys, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void RmcpPlusFrame_EveryBitFlipAfterTheRmcpHeader_IsRejected()
    {
        // The RMCP header (bytes 0-3) is outside the AuthCode; everything after it is covered.
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite3, CapturedSuite3.K1, CapturedSuite3.K2);
        var accepted = new List<string>();
        for (var i = RmcpHeader.Size; i < CapturedSuite3.SetPrivilegeResponse.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var copy = (byte[])CapturedSuite3.SetPrivilegeResponse.Clone();
                copy[i] ^= (byte)(1 << bit);
                if (RmcpPlusFrame.TryRead(copy, keys, out _, out _))
                {
                    accepted.Add($"byte {i} bit {bit}");
                }
            }
        }

        Assert.Empty(accepted);
    }

    [Fact]
    public void RmcpPlusFrame_UnsignedPacketInsideSession_IsRejected()
    {
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite3, CapturedSuite3.K1, CapturedSuite3.K2);
        var buffer = new byte[128];
        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.IpmiMessage, CapturedSuite3.ConsoleSessionId, 2, CapturedSuite3.SetPrivilegeResponseMessage, null, default, buffer, out var written));

        Assert.False(RmcpPlusFrame.TryRead(buffer.AsSpan(0, written), keys, out _, out var error));
        Assert.Contains("unsigned", error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(200)]
    public void RmcpPlusFrame_Suite17_RoundTripsEveryPayloadLength(int length)
    {
        var keys = new RmcpPlusSessionKeys(CipherSuite.Suite17, new byte[32].Select((_, i) => (byte)i).ToArray(), new byte[32].Select((_, i) => (byte)(0xA0 + i)).ToArray());
        var payload = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var buffer = new byte[RmcpPlusFrame.MaximumDatagram];

        Assert.True(RmcpPlusFrame.TryWrite(IpmiPayloadType.IpmiMessage, 0x11223344, 9, payload, keys, new byte[16], buffer, out var written));
        Assert.Equal(0, (written - RmcpHeader.Size - keys.Suite.IntegrityLength) % 4);
        Assert.True(RmcpPlusFrame.TryRead(buffer.AsSpan(0, written), keys, out var packet, out var error), error);

        Assert.Equal(payload, packet.Payload.ToArray());
        Assert.Equal(0x11223344u, packet.SessionId);
        Assert.Equal(9u, packet.Sequence);
    }

    [Fact]
    public void IpmiResponse_BadChecksum_IsRejected()
    {
        var message = (byte[])CapturedSuite3.SetPrivilegeResponseMessage.Clone();
        message[^1] ^= 1;

        Assert.False(IpmiResponse.TryRead(message, out _, out var error));
        Assert.Contains("checksum", error);
    }
}
