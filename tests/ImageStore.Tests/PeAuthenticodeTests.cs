using System.Buffers.Binary;
using System.Formats.Asn1;

namespace Kldload.ImageStore.Tests;

public class PeAuthenticodeTests
{
    private static readonly string SignedPath = Path.Combine(AppContext.BaseDirectory, "TestData", "snponly.signed.efi");

    private static string Expected => File.ReadAllText(SignedPath + ".authenticode-sha256").Trim();

    [Fact]
    public void TryComputeSha256_SignedEfiBinary_MatchesOsslsigncode()
    {
        Assert.True(PeAuthenticode.TryComputeSha256(SignedPath, out var digest, out var error), error);
        Assert.Equal(Expected, digest.ToString());
    }

    [Fact]
    public void TryComputeSha256_SignatureRemoved_SameDigest()
    {
        // Signing appends the certificate table and fills its directory entry; neither is hashed.
        var bytes = File.ReadAllBytes(SignedPath);
        Assert.True(PeImageLayout.TryRead(bytes, bytes.Length, out var layout, out _));
        Assert.True(layout!.CertificateTable.Size > 0);
        var unsigned = bytes[..(int)layout.CertificateTable.Offset];
        unsigned.AsSpan((int)layout.CertificateDirectoryFileOffset!.Value, 8).Clear();
        Assert.True(PeAuthenticode.TryComputeSha256(new MemoryStream(unsigned), out var digest, out _));
        Assert.Equal(Expected, digest.ToString());
    }

    [Fact]
    public void TryComputeSha256_CheckSumChanged_SameDigest()
    {
        var bytes = File.ReadAllBytes(SignedPath);
        Assert.True(PeImageLayout.TryRead(bytes, bytes.Length, out var layout, out _));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)layout!.CheckSumFileOffset), 0xDEADBEEF);
        Assert.True(PeAuthenticode.TryComputeSha256(new MemoryStream(bytes), out var digest, out _));
        Assert.Equal(Expected, digest.ToString());
    }

    [Fact]
    public void TryComputeSha256_SectionByteFlipped_DifferentDigest()
    {
        var bytes = File.ReadAllBytes(SignedPath);
        Assert.True(PeImageLayout.TryRead(bytes, bytes.Length, out var layout, out _));
        bytes[layout!.Sections[0].Offset + 10] ^= 0x01;
        Assert.True(PeAuthenticode.TryComputeSha256(new MemoryStream(bytes), out var digest, out _));
        Assert.NotEqual(Expected, digest.ToString());
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x4D, 0x5A })]
    [InlineData(new byte[] { 0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0 })]
    public void TryComputeSha256_NotPe_FailsWithReason(byte[] bytes)
    {
        Assert.False(PeAuthenticode.TryComputeSha256(new MemoryStream(bytes), out var digest, out var error));
        Assert.Null(digest);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void TryRead_EveryTruncationOfHeaders_FailsCleanly()
    {
        var bytes = File.ReadAllBytes(SignedPath);
        Assert.True(PeImageLayout.TryRead(bytes, bytes.Length, out var full, out _));
        for (var n = 0; n < full!.SizeOfHeaders; n++)
        {
            Assert.False(PeImageLayout.TryRead(bytes.AsSpan(0, n), n, out _, out var error), $"truncated to {n}");
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void TryComputeSha256_SignedEfiBinary_EqualsTheDigestInsideItsSignature()
    {
        var bytes = File.ReadAllBytes(SignedPath);
        Assert.True(PeAuthenticode.TryComputeSha256(SignedPath, out var digest, out var error), error);
        Assert.Equal(Convert.ToHexStringLower(EmbeddedDigest(bytes)), digest.ToString());
    }

    [Fact]
    public void TryComputeSha256_MutatedHeaders_DigestOrReasonNeverAnException()
    {
        var bytes = File.ReadAllBytes(SignedPath)[..4096];
        var random = new Random(9);
        for (var i = 0; i < 1000; i++)
        {
            var mutated = (byte[])bytes.Clone();
            for (var k = 0; k < 1 + random.Next(4); k++)
            {
                mutated[random.Next(0x200)] = (byte)random.Next(256);
            }

            var ok = PeAuthenticode.TryComputeSha256(new MemoryStream(mutated), out var digest, out var error);
            Assert.True(ok ? digest is not null : !string.IsNullOrEmpty(error), $"mutation {i}");
        }
    }

    /// <summary>The digest inside the Authenticode signature (SpcIndirectDataContent.messageDigest), read independently.</summary>
    private static byte[] EmbeddedDigest(byte[] image)
    {
        var pe = BitConverter.ToInt32(image, 0x3C);
        var optional = pe + 24;
        var magic = BitConverter.ToUInt16(image, optional);
        var certEntry = optional + (magic == 0x20B ? 112 : 96) + 32;
        var offset = BitConverter.ToInt32(image, certEntry);
        var size = BitConverter.ToInt32(image, certEntry + 4);
        var pkcs7 = image.AsSpan(offset + 8, size - 8).ToArray(); // skip WIN_CERTIFICATE header
        // ContentInfo { contentType, [0] SignedData { version, digestAlgorithms, encapContentInfo { type, [0] SpcIndirectDataContent } } }
        var contentInfo = new AsnReader(pkcs7, AsnEncodingRules.BER).ReadSequence();
        contentInfo.ReadObjectIdentifier();
        var signedData = contentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
        signedData.ReadInteger();
        signedData.ReadSetOf();
        var encap = signedData.ReadSequence();
        encap.ReadObjectIdentifier();
        var seq = encap.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
        seq.ReadEncodedValue(); // SpcAttributeTypeAndOptionalValue
        var digestInfo = seq.ReadSequence();
        digestInfo.ReadEncodedValue(); // AlgorithmIdentifier
        return digestInfo.ReadOctetString();
    }
}
