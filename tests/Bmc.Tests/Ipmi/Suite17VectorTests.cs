using System.Diagnostics;
using System.Text;
using Kldload.Bmc.Ipmi.Protocol;

namespace Kldload.Bmc.Tests.Ipmi;

/// <summary>
/// Cipher suite 17 (RAKP-HMAC-SHA256). ipmi_sim has no suite 17 to capture from, so each value is
/// derived from the IPMI 2.0 algorithm (the same inputs as the suite-3 capture) by an independent
/// implementation: the openssl command line, fed the message bytes the specification lists.
/// </summary>
public sealed class Suite17VectorTests
{
    private static readonly byte[] UserName = Encoding.ASCII.GetBytes(CapturedSuite3.User);
    private static readonly byte[] PasswordKey = [.. Encoding.ASCII.GetBytes(CapturedSuite3.Password), .. new byte[20 - CapturedSuite3.Password.Length]];

    [Fact]
    public void Rakp2Code_Suite17_IsOpensslHmacSha256OfTheSpecInputs()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite17, Encoding.ASCII.GetBytes(CapturedSuite3.Password));
        // SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm (IPMI 2.0 section 13.31, RAKP message 2)
        var input = Hex.Bytes("a4 a3 a2 a0 02 05 00 00").Concat(CapturedSuite3.ConsoleRandom).Concat(CapturedSuite3.BmcRandom)
            .Concat(CapturedSuite3.BmcGuid).Concat(new byte[] { 0x14, 0x05 }).Concat(UserName).ToArray();

        var code = exchange.Rakp2Code(CapturedSuite3.ConsoleSessionId, CapturedSuite3.BmcSessionId, CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcRandom, CapturedSuite3.BmcGuid, CapturedSuite3.Role, UserName);

        Assert.Equal(32, code.Length);
        Assert.Equal(OpensslHmacSha256(PasswordKey, input), code);
    }

    [Fact]
    public void SessionKeys_Suite17_AreOpensslHmacSha256Chains()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite17, Encoding.ASCII.GetBytes(CapturedSuite3.Password));
        var sikInput = CapturedSuite3.ConsoleRandom.Concat(CapturedSuite3.BmcRandom).Concat(new byte[] { 0x14, 0x05 }).Concat(UserName).ToArray();

        var sik = exchange.SessionIntegrityKey(CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcRandom, CapturedSuite3.Role, UserName);

        Assert.Equal(OpensslHmacSha256(PasswordKey, sikInput), sik);
        // K1 and K2 use 20-byte constants under every suite (IPMI 2.0 section 13.32).
        Assert.Equal(OpensslHmacSha256(sik, Enumerable.Repeat((byte)1, 20).ToArray()), exchange.K1(sik));
        Assert.Equal(OpensslHmacSha256(sik, Enumerable.Repeat((byte)2, 20).ToArray()), exchange.K2(sik));
        var rakp4Input = CapturedSuite3.ConsoleRandom.Concat(Hex.Bytes("02 05 00 00")).Concat(CapturedSuite3.BmcGuid).ToArray();
        Assert.Equal(OpensslHmacSha256(sik, rakp4Input)[..16], exchange.Rakp4Icv(sik, CapturedSuite3.ConsoleRandom, CapturedSuite3.BmcSessionId, CapturedSuite3.BmcGuid));
    }

    [Fact]
    public void Rakp3Code_Suite17_IsOpensslHmacSha256()
    {
        var exchange = new RakpKeyExchange(CipherSuite.Suite17, Encoding.ASCII.GetBytes(CapturedSuite3.Password));
        var input = CapturedSuite3.BmcRandom.Concat(Hex.Bytes("a4 a3 a2 a0 14 05")).Concat(UserName).ToArray();

        Assert.Equal(OpensslHmacSha256(PasswordKey, input), exchange.Rakp3Code(CapturedSuite3.BmcRandom, CapturedSuite3.ConsoleSessionId, CapturedSuite3.Role, UserName));
    }

    private static byte[] OpensslHmacSha256(byte[] key, byte[] data)
    {
        var input = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(input, data);
            var psi = new ProcessStartInfo("openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + Convert.ToHexString(key), "-binary", input])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(psi)!;
            using var output = new MemoryStream();
            process.StandardOutput.BaseStream.CopyTo(output);
            process.WaitForExit();
            Assert.Equal(0, process.ExitCode);
            return output.ToArray();
        }
        finally
        {
            File.Delete(input);
        }
    }
}
