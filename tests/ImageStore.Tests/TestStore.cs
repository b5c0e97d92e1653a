using System.Security.Cryptography;
using LiteDB;

namespace Kldload.ImageStore.Tests;

/// <summary>A store in a fresh temporary directory with a real LiteDB file (shared mode, as the host opens it).</summary>
internal sealed class TestStore : IDisposable
{
    public TestStore(IEnumerable<IImageReferenceSource>? sources = null)
    {
        Dir = Path.Combine(Path.GetTempPath(), $"klimg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Dir);
        Db = new LiteDatabase(new ConnectionString { Filename = Path.Combine(Dir, "kldload.db"), Connection = ConnectionType.Shared });
        Store = new LiveImageStore(Path.Combine(Dir, "images"), new LiteDbImageCatalogStore(Db), TimeProvider.System, sources);
    }

    public string Dir { get; }

    public LiteDatabase Db { get; }

    public LiveImageStore Store { get; }

    /// <summary>A directory with a kernel, an initrd and (optionally) a rootfs of random content.</summary>
    public string MakeImageDir(string name, int kernelBytes = 4096, int initrdBytes = 8192, byte[]? kernel = null, byte[]? initrd = null, bool rootfs = false)
    {
        var d = Path.Combine(Dir, "src-" + name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(d);
        File.WriteAllBytes(Path.Combine(d, "vmlinuz-6.12"), kernel ?? RandomNumberGenerator.GetBytes(kernelBytes));
        File.WriteAllBytes(Path.Combine(d, "initrd.img"), initrd ?? RandomNumberGenerator.GetBytes(initrdBytes));
        if (rootfs)
        {
            File.WriteAllBytes(Path.Combine(d, "rootfs.squashfs"), RandomNumberGenerator.GetBytes(16384));
        }

        return d;
    }

    public Task<ImportResult> ImportAsync(string name, string version, string? dir = null)
        => Store.ImportDirectoryAsync(dir ?? MakeImageDir(name), new DirectoryImportOptions { Name = name, Version = version }, "test", null, CancellationToken.None);

    /// <summary>A snapshot of everything visible: blob names, manifests, channels.</summary>
    public string Snapshot()
        => string.Join('\n', Store.Blobs.Enumerate().Select(d => d.ToString()).Order())
            + "\n--\n" + string.Join('\n', Store.Catalog.List().Select(m => $"{m.Key} {m.Kernel} {m.Initrd}"))
            + "\n--\n" + string.Join('\n', Store.Catalog.ListChannels().Select(c => $"{c.Name} {c.Current}"));

    public void Dispose()
    {
        Db.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

/// <summary>A reference source with a fixed list, standing in for pinned profiles.</summary>
internal sealed class FixedReferences(params ImageKey[] keys) : IImageReferenceSource
{
    public string Description => "pinned profiles";

    public IEnumerable<ImageKey> GetReferencedImages() => keys;
}
