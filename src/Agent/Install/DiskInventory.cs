using System.Globalization;

namespace Kldload.Agent.Install;

/// <summary>
/// One block device of <c>/sys/block</c>: its kernel name, size in bytes (the <c>size</c> file counts
/// 512-byte sectors whatever the logical block size), and the <c>removable</c> and <c>ro</c> flags.
/// </summary>
internal sealed record BlockDisk(string Name, long SizeBytes, bool Removable, bool ReadOnly)
{
    private static readonly string[] VirtualPrefixes = ["loop", "ram", "zram"];

    /// <summary>A loop, ram or zram device: memory or a file, never a disk to install to.</summary>
    public bool IsVirtual => VirtualPrefixes.Any(p => Name.StartsWith(p, StringComparison.Ordinal));

    /// <summary>What <c>auto</c> takes: not virtual, not removable, writable.</summary>
    public bool IsEligibleForAuto => !IsVirtual && !Removable && !ReadOnly;
}

/// <summary>
/// The disks the live system sees and the stable names that point at them
/// (<c>/dev/disk/by-id/ID</c> → kernel name), read once before planning.
/// </summary>
internal sealed record DiskInventory(IReadOnlyList<BlockDisk> Disks, IReadOnlyDictionary<string, string> ById)
{
    /// <summary>
    /// Reads <c>ROOT/sys/block/*/{size,removable,ro}</c> and the links of <c>ROOT/dev/disk/by-id</c>
    /// (ROOT is <c>/</c> on a node, a temp tree in the tests). An entry without a readable
    /// <c>size</c> is skipped; a missing flag reads as 0. Disks come sorted by name.
    /// </summary>
    public static DiskInventory Read(string root)
    {
        var sysBlock = Path.Combine(root, "sys/block");
        var disks = new List<BlockDisk>();
        if (Directory.Exists(sysBlock))
        {
            foreach (var dir in Directory.EnumerateFileSystemEntries(sysBlock))
            {
                var name = Path.GetFileName(dir);
                if (ReadNumber(Path.Combine(dir, "size")) is { } sectors)
                {
                    disks.Add(new BlockDisk(name, sectors * 512, ReadNumber(Path.Combine(dir, "removable")) == 1, ReadNumber(Path.Combine(dir, "ro")) == 1));
                }
            }
        }

        var byId = new Dictionary<string, string>(StringComparer.Ordinal);
        var byIdDir = Path.Combine(root, "dev/disk/by-id");
        if (Directory.Exists(byIdDir))
        {
            foreach (var link in Directory.EnumerateFileSystemEntries(byIdDir))
            {
                if (new FileInfo(link).LinkTarget is { } target)
                {
                    // udev's links are relative (../../vda): the kernel name is the last part.
                    byId[Path.GetFileName(link)] = Path.GetFileName(target);
                }
            }
        }

        return new DiskInventory([.. disks.OrderBy(d => d.Name, StringComparer.Ordinal)], byId);
    }

    /// <summary>
    /// The kernel name a path given in a profile stands for: <c>/dev/NAME</c> → NAME,
    /// <c>/dev/disk/by-id/ID</c> → the link's target; null when neither resolves.
    /// </summary>
    public string? Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string ById = "/dev/disk/by-id/";
        if (path.StartsWith(ById, StringComparison.Ordinal))
        {
            return this.ById.TryGetValue(path[ById.Length..], out var name) ? name : null;
        }

        return path.StartsWith("/dev/", StringComparison.Ordinal) && path.IndexOf('/', 5) < 0 ? path[5..] : null;
    }

    private static long? ReadNumber(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
