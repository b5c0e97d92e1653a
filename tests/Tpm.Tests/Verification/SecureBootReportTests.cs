using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Kldload.Tpm.Verification;
using static Kldload.Testing.LittleEndian;

namespace Kldload.Tpm.Tests.Verification;

/// <summary>PCR 7 decoded (issue 19): the SecureBoot variable, the key databases and the authorities.</summary>
public class SecureBootReportTests
{
    [Fact]
    public void FromLog_RealOvmfBootWithoutSecureBoot_OffWithNoAuthoritiesAndNoProblems()
    {
        var log = TcgEventLog.Parse(File.ReadAllBytes(TestVectors.PathOf("ovmf/binary_bios_measurements")));

        var report = SecureBootReport.FromLog(log);

        Assert.False(report.Enabled);
        Assert.Empty(report.Authorities);
        Assert.Empty(report.Problems);
        Assert.Empty(report.Keys.Values.SelectMany(k => k));
    }

    [Fact]
    public void FromLog_SecureBootOnWithDbAndShimAuthorities_DecodesSignersAndKeys()
    {
        using var ca = Certificate("Test UEFI CA");
        using var vendor = Certificate("Test Distribution Secure Boot CA");
        var log = Log(
            DriverConfig("SecureBoot", UefiVariableData.EfiGlobalVariable, [1]),
            DriverConfig("PK", UefiVariableData.EfiGlobalVariable, SignatureList(ca.RawData)),
            DriverConfig("db", UefiVariableData.ImageSecurityDatabase, SignatureList(ca.RawData)),
            DriverConfig("dbx", UefiVariableData.ImageSecurityDatabase, Sha256List(3)),
            Authority("db", UefiVariableData.ImageSecurityDatabase, [.. new byte[16], .. ca.RawData]),
            Authority("Shim", new Guid("605dab50-e046-4300-abb6-3dd810dd8b23"), vendor.RawData),
            Authority("SbatLevel", new Guid("605dab50-e046-4300-abb6-3dd810dd8b23"), Encoding.ASCII.GetBytes("sbat,1,2021030218\n")));

        var report = SecureBootReport.FromLog(log);

        Assert.True(report.Enabled);
        Assert.Equal(["Test UEFI CA"], report.Keys["PK"]);
        Assert.Equal(["Test UEFI CA"], report.Keys["db"]);
        Assert.Equal(3, report.DbxEntries);
        Assert.Equal(["db: Test UEFI CA", "Shim: Test Distribution Secure Boot CA", "SbatLevel: sbat,1,2021030218"], report.Authorities);
        Assert.Empty(report.Problems);
    }

    [Fact]
    public void FromLog_DataThatDoesNotHashToItsDigest_IsNotBelieved()
    {
        var forged = DriverConfig("SecureBoot", UefiVariableData.EfiGlobalVariable, [1]);
        var honest = DriverConfig("SecureBoot", UefiVariableData.EfiGlobalVariable, [0]);
        var report = SecureBootReport.FromLog(Log((forged.Type, forged.Data, SHA256.HashData(honest.Data))));

        Assert.Null(report.Enabled);
        Assert.Contains("not what its SHA-256 digest covers", Assert.Single(report.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_EveryTruncation_FailsCleanly()
    {
        var data = DriverConfig("SecureBoot", UefiVariableData.EfiGlobalVariable, [1]).Data;
        Assert.True(UefiVariableData.TryRead(data, out var whole, out _));
        Assert.Equal("SecureBoot", whole!.Name);
        for (var n = 0; n < data.Length; n++)
        {
            Assert.False(UefiVariableData.TryRead(data.AsSpan(0, n), out _, out var error), $"length {n}");
            Assert.False(string.IsNullOrEmpty(error));
        }
    }

    [Fact]
    public void EfiSignatureList_EveryTruncation_FailsCleanly()
    {
        var list = Sha256List(2);
        Assert.True(EfiSignatureList.TryRead(list, out var entries, out _));
        Assert.Equal(2, entries.Count);
        for (var n = 1; n < list.Length; n++)
        {
            Assert.False(EfiSignatureList.TryRead(list.AsSpan(0, n), out _, out _), $"length {n}");
        }
    }

    private static X509Certificate2 Certificate(string cn)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={cn}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddYears(100));
    }

    private static (uint Type, byte[] Data, byte[] Digest) DriverConfig(string name, Guid vendor, byte[] value) => Event(0x80000001, name, vendor, value);

    private static (uint Type, byte[] Data, byte[] Digest) Authority(string name, Guid vendor, byte[] value) => Event(0x800000E0, name, vendor, value);

    private static (uint Type, byte[] Data, byte[] Digest) Event(uint type, string name, Guid vendor, byte[] value)
    {
        var data = new List<byte>(vendor.ToByteArray());
        data.AddRange(U64((ulong)name.Length));
        data.AddRange(U64((ulong)value.Length));
        data.AddRange(Encoding.Unicode.GetBytes(name));
        data.AddRange(value);
        byte[] bytes = [.. data];
        return (type, bytes, SHA256.HashData(bytes));
    }

    private static byte[] SignatureList(byte[] der)
    {
        var list = new List<byte>(EfiSignatureList.CertX509.ToByteArray());
        list.AddRange(U32((uint)(28 + 16 + der.Length)));
        list.AddRange(U32(0));
        list.AddRange(U32((uint)(16 + der.Length)));
        list.AddRange(new byte[16]);
        list.AddRange(der);
        return [.. list];
    }

    private static byte[] Sha256List(int count)
    {
        var list = new List<byte>(EfiSignatureList.CertSha256.ToByteArray());
        list.AddRange(U32((uint)(28 + (count * 48))));
        list.AddRange(U32(0));
        list.AddRange(U32(48));
        for (var i = 0; i < count; i++)
        {
            list.AddRange(new byte[16]);
            list.AddRange(SHA256.HashData([(byte)i]));
        }

        return [.. list];
    }

    /// <summary>A crypto-agile log (SHA-256 bank only) with the given PCR 7 events.</summary>
    private static TcgEventLog Log(params (uint Type, byte[] Data, byte[] Digest)[] events) =>
        TcgEventLog.Parse(CryptoAgileLog.With([.. events.Select(e => (7u, e.Type, e.Digest, e.Data))]));

    private static byte[] U64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }
}
