namespace Kldload.Provisioner.Hosting;

/// <summary>
/// <c>{Kldload:DataDir}/kldload.lock</c>, held open exclusively by <c>kldload serve</c> for its whole
/// life. A second server on the same directory is refused at start (two would each open the lease
/// database and corrupt it), and <c>kldload backup --offline</c> knows a server is running. The
/// kernel drops the lock when the process dies, even by <c>kill -9</c>.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "kldload.lock";

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file) => _file = file;

    /// <summary>Takes the lock or returns null when another process holds it.</summary>
    public static DataDirectoryLock? TryAcquire(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        try
        {
            var file = new FileStream(Path.Combine(dataDir, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new DataDirectoryLock(file);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>True when a running process holds the lock of <paramref name="dataDir"/> (nothing is written).</summary>
    public static bool IsHeld(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public void Dispose() => _file.Dispose();
}
