using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Kldload.Tftp.Files;

/// <summary>
/// Serves a few files that live outside the TFTP root under fixed names: each name maps to one
/// absolute path the operator configured (a file a distribution package installs, say
/// <c>shimx64.efi</c> → <c>/usr/lib/shim/shimx64.efi.signed</c>). Only those exact names are looked
/// up, so a request can never reach another file; the target must be a regular file when opened.
/// </summary>
public sealed class MappedFileSource : ITftpFileSource
{
    private const int ReadBufferSize = 64 * 1024;
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="path"/> (absolute) as <paramref name="name"/> (no leading slash).</summary>
    public MappedFileSource Map(string name, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Path.IsPathFullyQualified(path))
        {
            throw new ArgumentException($"'{path}' is not an absolute path", nameof(path));
        }

        var normalized = TftpFileName.Normalize(name, out var refusal) ?? throw new ArgumentException(refusal, nameof(name));
        _files[normalized] = path;
        return this;
    }

    /// <summary>The names this source serves and the files behind them.</summary>
    public IReadOnlyDictionary<string, string> Files => _files;

    public TftpFileLookup Open(string requestedName)
    {
        ArgumentNullException.ThrowIfNull(requestedName);
        var name = TftpFileName.Normalize(requestedName, out var refusal);
        if (name is null)
        {
            return TftpFileLookup.Refused(refusal!);
        }

        if (!_files.TryGetValue(name, out var path))
        {
            return TftpFileLookup.NotFound("no mapped file of that name");
        }

        return OpenRegularFile(path);
    }

    /// <summary>
    /// Opens one file by its absolute path for a transfer: NotFound when it cannot be opened, Refused
    /// when it is not a regular file (directory, device, FIFO, socket).
    /// </summary>
    public static TftpFileLookup OpenRegularFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);

        // Opened non-blocking (a FIFO must not hang the listener), then checked on the open handle:
        // only a regular file is served, and what is served is the file that was checked.
        var native = RootDirectoryFileSource.Native.Open(path, RootDirectoryFileSource.Native.ORdOnly | RootDirectoryFileSource.Native.ONonBlock | RootDirectoryFileSource.Native.OCloExec);
        if (native < 0)
        {
            return TftpFileLookup.NotFound($"{path}: cannot open (errno {Marshal.GetLastPInvokeError()})");
        }

        var handle = new SafeFileHandle(native, ownsHandle: true);
        if (!RootDirectoryFileSource.Native.TryGetFileType(native, out var type, out var length, out var modified))
        {
            handle.Dispose();
            return TftpFileLookup.NotFound($"{path}: cannot stat the file");
        }

        if (type != RootDirectoryFileSource.Native.SIfReg)
        {
            handle.Dispose();
            return TftpFileLookup.Refused($"{path} is not a regular file");
        }

        bool IsUnchanged() => !handle.IsClosed && RootDirectoryFileSource.Native.TryGetFileType(native, out _, out var nowLength, out var nowModified) && nowLength == length && nowModified == modified;
        return TftpFileLookup.Found(new TftpFile(new FileStream(handle, FileAccess.Read, ReadBufferSize), length, IsUnchanged));
    }
}
