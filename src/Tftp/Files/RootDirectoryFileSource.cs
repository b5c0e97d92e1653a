using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Kldload.Tftp.Files;

/// <summary>
/// Serves regular files under one directory (the boot loaders). Besides the name rules of
/// <see cref="TftpFileName"/>, it opens the file first and then checks what was opened: the handle
/// must be a regular file (not a device, FIFO or socket) whose real path lies under the real root,
/// so a symlink pointing outside the root is refused and a rename between check and open changes nothing.
/// An absolute name that lies under the root (<c>/srv/tftp/a</c> for root <c>/srv/tftp</c>) is served.
/// </summary>
public sealed partial class RootDirectoryFileSource : ITftpFileSource
{
    private const int ReadBufferSize = 64 * 1024;
    private readonly string _root;
    private readonly string _realRoot;

    public RootDirectoryFileSource(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _realRoot = RealPath(_root);
    }

    public TftpFileLookup Open(string requestedName)
    {
        ArgumentNullException.ThrowIfNull(requestedName);
        var requested = requestedName.StartsWith(_root + "/", StringComparison.Ordinal) ? requestedName[_root.Length..] : requestedName;
        var name = TftpFileName.Normalize(requested, out var refusal);
        if (name is null)
        {
            return TftpFileLookup.Refused(refusal!);
        }

        var path = Path.GetFullPath(Path.Combine(_root, name));
        if (!path.StartsWith(_root + "/", StringComparison.Ordinal))
        {
            return TftpFileLookup.Refused("path outside the root");
        }

        // O_NONBLOCK: opening a FIFO must not hang the server; it is refused below like a device.
        var fd = Native.Open(path, Native.ORdOnly | Native.ONonBlock | Native.OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                Native.ENoEnt or Native.ENotDir => TftpFileLookup.NotFound("no such file"),
                Native.EAcces => TftpFileLookup.Refused("permission denied"),
                Native.EIsDir => TftpFileLookup.Refused("is a directory"),
                _ => TftpFileLookup.NotFound($"cannot open (errno {errno})"),
            };
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (!Native.TryGetFileType(fd, out var type, out var size, out var modified))
            {
                handle.Dispose();
                return TftpFileLookup.NotFound("cannot stat the file");
            }

            if (type != Native.SIfReg)
            {
                handle.Dispose();
                return TftpFileLookup.Refused(type == Native.SIfDir ? "is a directory" : "not a regular file (device, FIFO or socket)");
            }

            var real = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            if (real is null || !real.StartsWith(_realRoot + "/", StringComparison.Ordinal))
            {
                handle.Dispose();
                return TftpFileLookup.Refused("symlink resolves outside the root");
            }

            // A file rewritten in place (same inode) would be read half old, half new: the transfer
            // checks before completing that size and modification time are still those seen here.
            bool IsUnchanged() => !handle.IsClosed && Native.TryGetFileType(fd, out _, out var nowSize, out var nowModified) && nowSize == size && nowModified == modified;
            return TftpFileLookup.Found(new TftpFile(new FileStream(handle, FileAccess.Read, ReadBufferSize), size, IsUnchanged));
        }
        catch (IOException e)
        {
            handle.Dispose();
            return TftpFileLookup.NotFound(e.Message);
        }
    }

    /// <summary>The root with every symlink in it resolved, so containment checks compare like with like.</summary>
    private static string RealPath(string path)
    {
        var result = "/";
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(result, part);
            for (var hops = 0; hops < 40; hops++)
            {
                var target = new FileInfo(next).LinkTarget;
                if (target is null)
                {
                    break;
                }

                next = Path.GetFullPath(target, Path.GetDirectoryName(next) ?? "/");
                next = hops == 39 ? throw new IOException($"too many symlinks in {path}") : next;
            }

            result = next;
        }

        return Path.TrimEndingDirectorySeparator(result);
    }

    /// <summary>Linux syscalls .NET does not expose: a non-blocking open and the file type of a descriptor.</summary>
    internal static partial class Native
    {
        public const int ORdOnly = 0;
        public const int ONonBlock = 0x800;
        public const int OCloExec = 0x80000;
        public const int ENoEnt = 2;
        public const int EAcces = 13;
        public const int ENotDir = 20;
        public const int EIsDir = 21;
        public const int SIfMt = 0xF000;
        public const int SIfReg = 0x8000;
        public const int SIfDir = 0x4000;

        private const int AtEmptyPath = 0x1000;
        private const uint StatxType = 0x1;
        private const uint StatxSize = 0x200;
        private const uint StatxMtime = 0x40;

        // struct statx (linux/stat.h) has the same layout on every architecture.
        private const int StatxBufferSize = 256;
        private const int StatxModeOffset = 0x1c;
        private const int StatxSizeOffset = 0x28;
        private const int StatxMtimeOffset = 0x70;

        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Statx(int dirfd, string path, int flags, uint mask, Span<byte> buffer);

        public static bool TryGetFileType(int fd, out int type, out long size, out (long Seconds, uint Nanoseconds) modified)
        {
            Span<byte> buffer = stackalloc byte[StatxBufferSize];
            if (Statx(fd, string.Empty, AtEmptyPath, StatxType | StatxSize | StatxMtime, buffer) != 0)
            {
                type = 0;
                size = 0;
                modified = default;
                return false;
            }

            modified = (System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(buffer[StatxMtimeOffset..]),
                System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(buffer[(StatxMtimeOffset + 8)..]));
            type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer[StatxModeOffset..]) & SIfMt;
            size = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(buffer[StatxSizeOffset..]);
            return true;
        }
    }
}
