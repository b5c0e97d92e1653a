using Kldload.ImageStore;
using Kldload.Provisioner.Backup;

namespace Kldload.Provisioner.Tests.Backup;

/// <summary>
/// On PostgreSQL the mesh CA's private keys are sealed in the database under <c>Mesh:CaKeyFile</c>:
/// the instance's backup must carry that file, wherever it is set.
/// </summary>
public sealed class MeshCaKeyBackupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-cakeybackup-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<IReadOnlyList<string>> BackedUpAsync(string caKeyFile)
    {
        var dataDir = Path.Combine(_dir, "var");
        using var output = new MemoryStream();
        var manifest = await BackupWriter.WriteAsync(new BackupSource
        {
            Database = null,
            Leases = () => null,
            DataDir = dataDir,
            AdminTokenFile = Path.Combine(dataDir, "admin.token"),
            MeshCaKeyFile = caKeyFile,
            ImagesRoot = Path.Combine(dataDir, "images"),
            TrustedKeysDir = Path.Combine(dataDir, "images", "trusted-keys"),
            Settings = new Dictionary<string, string?>(),
        }, output, includeImages: false, NoTransferProgress.Instance, TimeProvider.System, CancellationToken.None);
        return [.. manifest.Entries.Select(e => e.Path)];
    }

    private static void WriteKey(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[32]);
    }

    [Fact]
    public async Task Backup_PostgresModeKeyFileAtTheDefault_IsInTheCaDirectoryEntries()
    {
        var key = Path.Combine(_dir, "var", "meshca", "ca.key");
        WriteKey(key);

        var entries = await BackedUpAsync(key);

        Assert.Contains("meshca/ca.key", entries);
        Assert.DoesNotContain("auth/mesh-ca.key", entries);
    }

    [Fact]
    public async Task Backup_PostgresModeKeyFileElsewhere_IsCarriedApart()
    {
        var key = Path.Combine(_dir, "etc", "kldload", "mesh-ca.key");
        WriteKey(key);

        var entries = await BackedUpAsync(key);

        Assert.Contains("auth/mesh-ca.key", entries);
    }
}
