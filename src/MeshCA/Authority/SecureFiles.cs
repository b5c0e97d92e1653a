namespace Kldload.MeshCA.Authority;

/// <summary>
/// Writes key material readable by the service user only: directories 0700, files 0600, each file
/// written to a temporary name and renamed so a crash never leaves half a key behind.
/// </summary>
public static class SecureFiles
{
    /// <summary>Mode of every file under the CA directory.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Mode of the CA directory.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> (0700) if missing and tightens its mode if it exists.</summary>
    public static void EnsureDirectory(string path)
    {
        Directory.CreateDirectory(path);
        SetMode(path, DirectoryMode);
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> with mode 0600, atomically.</summary>
    public static void WriteAllText(string path, string content)
    {
        var temp = path + ".tmp";
        var options = CreateOptions();
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        SetMode(temp, FileMode);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Writes raw bytes to <paramref name="path"/> with mode 0600, atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        var temp = path + ".tmp";
        var options = CreateOptions();
        using (var stream = new FileStream(temp, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        SetMode(temp, FileMode);
        File.Move(temp, path, overwrite: true);
    }

    private static FileStreamOptions CreateOptions()
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        return options;
    }

    private static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }
}
