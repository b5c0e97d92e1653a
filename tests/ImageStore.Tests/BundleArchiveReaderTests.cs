using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.ImageStore.Tests;

/// <summary>
/// The archive reader alone, on tar files built here: what it stages and returns, and which entries
/// and layouts it refuses. Signatures are not its business, so the index and signature are any bytes.
/// </summary>
public sealed class BundleArchiveReaderTests : IDisposable
{
    private static readonly byte[] IndexBytes = Encoding.UTF8.GetBytes("{\"any\":\"index\"}");
    private static readonly byte[] SignatureBytes = Encoding.UTF8.GetBytes("{\"any\":\"signature\"}");

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"klbar-{Guid.NewGuid():N}");
    private readonly string _staging;

    public BundleArchiveReaderTests()
    {
        _staging = Path.Combine(_dir, "staging");
        Directory.CreateDirectory(_staging);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteTar(IEnumerable<(string Name, byte[] Data)> entries, BundleFormat.Compression compression = BundleFormat.Compression.None, TarEntryType type = TarEntryType.RegularFile)
    {
        var path = Path.Combine(_dir, $"b-{Guid.NewGuid():N}.tar");
        using (var file = File.Create(path))
        {
            using Stream compressed = compression == BundleFormat.Compression.Gzip ? new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true) : file;
            using var tar = new TarWriter(compressed, TarEntryFormat.Gnu, leaveOpen: true);
            foreach (var (name, data) in entries)
            {
                var entry = new GnuTarEntry(type, name);
                if (type == TarEntryType.SymbolicLink)
                {
                    entry.LinkName = "/etc/passwd";
                }
                else
                {
                    entry.DataStream = new MemoryStream(data);
                }

                tar.WriteEntry(entry);
            }
        }

        return path;
    }

    private Task<BundleArchive> ReadAsync(string path) => BundleArchiveReader.ReadAsync(path, _staging, NoTransferProgress.Instance, CancellationToken.None);

    private async Task<string> RefusedAsync(string path)
    {
        var e = await Assert.ThrowsAsync<BundleException>(() => ReadAsync(path));
        Assert.Contains("nothing imported", e.Message, StringComparison.Ordinal);
        return e.Message;
    }

    [Theory]
    [InlineData(BundleFormat.Compression.None)]
    [InlineData(BundleFormat.Compression.Gzip)]
    public async Task ReadAsync_IndexSignatureAndBlob_BlobStagedUnderItsDigest(BundleFormat.Compression compression)
    {
        var blob = RandomNumberGenerator.GetBytes(1500);
        var digest = Sha256Digest.Of(blob);
        var path = WriteTar([(BundleFormat.IndexEntry, IndexBytes), (BundleFormat.SignatureEntry, SignatureBytes), (BundleFormat.BlobPrefix + digest, blob)], compression);

        var archive = await ReadAsync(path);

        Assert.Equal(IndexBytes, archive.Index);
        Assert.Equal(SignatureBytes, archive.Signature);
        Assert.Equal(1500L, Assert.Single(archive.Blobs, b => b.Key == digest).Value);
        Assert.Equal(blob, await File.ReadAllBytesAsync(Path.Combine(_staging, digest.ToString())));
    }

    [Fact]
    public async Task ReadAsync_NoIndexNoSignature_ReturnsNullsForTheVerifierToRefuse()
    {
        var archive = await ReadAsync(WriteTar([]));
        Assert.Null(archive.Index);
        Assert.Null(archive.Signature);
        Assert.Empty(archive.Blobs);
    }

    [Fact]
    public async Task ReadAsync_BlobNamedByAnotherHash_Refused()
    {
        var wrong = Sha256Digest.Of("something else"u8);
        var message = await RefusedAsync(WriteTar([(BundleFormat.BlobPrefix + wrong, RandomNumberGenerator.GetBytes(100))]));
        Assert.Contains($"blob {wrong} does not match its content", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../bundle.json")]
    [InlineData("/bundle.json")]
    [InlineData("blobs/../../x")]
    public async Task ReadAsync_EntryOutsideTheRoot_Refused(string name) =>
        Assert.Contains("escapes the archive root", await RefusedAsync(WriteTar([(name, IndexBytes)])), StringComparison.Ordinal);

    [Fact]
    public async Task ReadAsync_IndexTwice_Refused() =>
        Assert.Contains("bundle.json appears twice", await RefusedAsync(WriteTar([(BundleFormat.IndexEntry, IndexBytes), (BundleFormat.IndexEntry, IndexBytes)])), StringComparison.Ordinal);

    [Fact]
    public async Task ReadAsync_UnknownEntry_Refused() =>
        Assert.Contains("unexpected entry 'README'", await RefusedAsync(WriteTar([("README", IndexBytes)])), StringComparison.Ordinal);

    [Fact]
    public async Task ReadAsync_SymbolicLink_Refused() =>
        Assert.Contains("regular files only", await RefusedAsync(WriteTar([(BundleFormat.IndexEntry, [])], type: TarEntryType.SymbolicLink)), StringComparison.Ordinal);

    [Fact]
    public async Task ReadAsync_UncompressedHeaderChecksumBroken_Refused()
    {
        var path = WriteTar([(BundleFormat.IndexEntry, IndexBytes)]);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[120] ^= 0x01; // a digit of the first header's gid: still valid octal, so only the checksum can tell
        await File.WriteAllBytesAsync(path, bytes);

        var e = await Assert.ThrowsAsync<BundleException>(() => ReadAsync(path));
        Assert.Contains("nothing imported", e.Message, StringComparison.Ordinal);
    }
}
