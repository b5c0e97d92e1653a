namespace Kldload.Provisioner.Storage;

/// <summary>
/// <c>{Kldload:DataDir}/kldload.lock</c>, held open exclusively by <c>kldload serve</c> for its whole
/// life, and by a CLI command that opens the databases itself (<c>kldload image ...</c>,
/// <c>kldload backup --offline</c>) while it runs. The holder alone opens kldload.db (LiteDB direct
/// mode) and the lease database: a second server is refused at start, and a CLI command that finds
/// the lock held asks the server at the URL it published next to the lock (<see cref="PublishUrl"/>).
/// The kernel drops the lock when the process dies, even by <c>kill -9</c>.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "kldload.lock";

    /// <summary>The admin URL a running server published (<see cref="PublishUrl"/>), one line.</summary>
    public const string UrlFileName = "kldload.url";

    private readonly FileStream _file;
    private readonly string _dataDir;
    private bool _published;

    private DataDirectoryLock(FileStream file, string dataDir)
    {
        _file = file;
        _dataDir = dataDir;
    }

    /// <summary>Takes the lock or returns null when another process holds it.</summary>
    public static DataDirectoryLock? TryAcquire(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        try
        {
            var file = new FileStream(Path.Combine(dataDir, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new DataDirectoryLock(file, dataDir);
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

    /// <summary>
    /// Writes the URL at which this holder's admin API answers on this host (<see cref="UrlFileName"/>,
    /// replaced atomically), so CLI commands on the same data directory can reach it. Removed again
    /// on <see cref="Dispose"/>; a file left by a killed server is ignored, as the lock is then free.
    /// </summary>
    public void PublishUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var path = Path.Combine(_dataDir, UrlFileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, url.AbsoluteUri + "\n");
        File.Move(temp, path, overwrite: true);
        _published = true;
    }

    /// <summary>The URL the holder of the lock of <paramref name="dataDir"/> published, or null.</summary>
    public static Uri? ReadPublishedUrl(string dataDir)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(dataDir, UrlFileName)).Trim();
            return Uri.TryCreate(text, UriKind.Absolute, out var url) ? url : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (_published)
        {
            File.Delete(Path.Combine(_dataDir, UrlFileName));
        }

        _file.Dispose();
    }
}
