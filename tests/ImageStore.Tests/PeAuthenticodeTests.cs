using System.Buffers.Binary;

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
}
