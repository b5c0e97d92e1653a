using Kldload.Contracts;

namespace Kldload.Agent.Install;

/// <summary>
/// One disk of the plan: a new GPT with partition 1 the ESP (<see cref="PartitionPlanner.EspBytes"/>,
/// FAT32) and partition 2 the rest, a ZFS vdev member.
/// </summary>
internal sealed record DiskPlan(string Name, long SizeBytes)
{
    /// <summary>The whole disk, <c>/dev/NAME</c>.</summary>
    public string Device => "/dev/" + Name;

    /// <summary>The ESP: <c>/dev/vda1</c>, or <c>/dev/nvme0n1p1</c> when the name ends in a digit.</summary>
    public string EspPartition => PartitionPath(1);

    /// <summary>The ZFS partition: <c>/dev/vda2</c>, <c>/dev/nvme0n1p2</c>.</summary>
    public string ZfsPartition => PartitionPath(2);

    /// <summary>The kernel's partition naming: a <c>p</c> between a name ending in a digit and the number.</summary>
    private string PartitionPath(int number) => Device + (char.IsAsciiDigit(Name[^1]) ? "p" : string.Empty) + number;
}

/// <summary>How the pool's vdevs are made of the disks.</summary>
internal enum PoolLayout : byte
{
    /// <summary>One disk, one vdev: no redundancy.</summary>
    Single = 1,

    /// <summary>Two or three disks: one mirror of all of them (three: a three-way mirror).</summary>
    Mirror = 2,

    /// <summary>Four or more: mirrored pairs in disk order, striped; an odd disk out joins the last pair.</summary>
    MirroredPairs = 3,
}

/// <summary>
/// What the install does to the disks: each disk's partitions and the pool's vdevs (each a list of
/// indexes into <see cref="Disks"/>). Pure data: <see cref="InstallCommands"/> turns it into commands.
/// </summary>
internal sealed record PartitionPlan(IReadOnlyList<DiskPlan> Disks, PoolLayout Layout, IReadOnlyList<IReadOnlyList<int>> Vdevs, long RootfsBytes);

/// <summary>
/// Plans an install from the disk inventory, the profile's install request and the size of the image's
/// root file system. Every problem is reported at once: a named disk that does not exist, one named
/// twice (by two names), a read-only or virtual one, one too small, no eligible disk for <c>auto</c>.
/// </summary>
internal static class PartitionPlanner
{
    /// <summary>The EFI system partition on each disk (so that any surviving mirror member boots).</summary>
    public const long EspBytes = 512L << 20;

    /// <summary>
    /// Room a disk needs beyond the ESP and one copy of the root file system: the GPT and alignment
    /// (2 MiB), the pool's labels and metadata, ZFS's slop space (1/32 of the pool) and the first writes
    /// of a booted system. 1 GiB is a floor, not a recommendation: a reimage needs a second copy.
    /// </summary>
    public const long ReserveBytes = 1L << 30;

    /// <summary>The smallest disk that can take a root file system of <paramref name="rootfsBytes"/>.</summary>
    public static long MinimumDiskBytes(long rootfsBytes) => EspBytes + rootfsBytes + ReserveBytes;

    public static bool TryPlan(DiskInventory inventory, InstallRequest request, long rootfsBytes, out PartitionPlan? plan, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(inventory);
        ArgumentNullException.ThrowIfNull(request);
        var problems = new List<string>();
        plan = null;
        if (request.Target != "zfs-root")
        {
            problems.Add($"target '{request.Target}': this agent installs zfs-root only");
        }

        var chosen = request.AutoDisks ? Auto(inventory, problems) : Named(inventory, request.Disks ?? [], problems);
        var minimum = MinimumDiskBytes(rootfsBytes);
        foreach (var small in chosen.Where(d => d.SizeBytes < minimum))
        {
            problems.Add($"disk {small.Name}: {Mib(small.SizeBytes)} MiB is smaller than ESP + image + reserve ({Mib(EspBytes)} + {Mib(rootfsBytes)} + {Mib(ReserveBytes)} = {Mib(minimum)} MiB)");
        }

        errors = problems;
        if (problems.Count > 0)
        {
            return false;
        }

        var disks = chosen.Select(d => new DiskPlan(d.Name, d.SizeBytes)).ToList();
        var (layout, vdevs) = Layout(disks.Count);
        plan = new PartitionPlan(disks, layout, vdevs, rootfsBytes);
        return true;
    }

    /// <summary>
    /// 1 disk: single; 2 or 3: one mirror of all (3 = three-way: any two may fail); 4 or more: pairs
    /// (0,1), (2,3), ... striped, an odd last disk joining the last pair (5 = a pair and a three-way mirror).
    /// </summary>
    public static (PoolLayout Layout, IReadOnlyList<IReadOnlyList<int>> Vdevs) Layout(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count == 1)
        {
            return (PoolLayout.Single, [[0]]);
        }

        if (count <= 3)
        {
            return (PoolLayout.Mirror, [[.. Enumerable.Range(0, count)]]);
        }

        var vdevs = new List<IReadOnlyList<int>>();
        for (var i = 0; i + 1 < count; i += 2)
        {
            vdevs.Add(i + 3 == count ? [i, i + 1, i + 2] : [i, i + 1]);
        }

        return (PoolLayout.MirroredPairs, vdevs);
    }

    private static List<BlockDisk> Auto(DiskInventory inventory, List<string> problems)
    {
        var eligible = inventory.Disks.Where(d => d.IsEligibleForAuto).ToList();
        if (eligible.Count == 0)
        {
            var seen = inventory.Disks.Count == 0 ? "none" : string.Join(", ", inventory.Disks.Select(d => $"{d.Name} ({Why(d)})"));
            problems.Add($"disks auto: no eligible disk (non-removable, writable, not loop/ram/zram); seen: {seen}");
        }

        return eligible;
    }

    private static List<BlockDisk> Named(DiskInventory inventory, IReadOnlyList<string> paths, List<string> problems)
    {
        if (paths.Count == 0)
        {
            problems.Add("disks: none named");
        }

        var chosen = new List<BlockDisk>();
        var namedAs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            var name = inventory.Resolve(path);
            var disk = name is null ? null : inventory.Disks.FirstOrDefault(d => d.Name == name);
            if (disk is null)
            {
                problems.Add($"disk {path}: does not exist on this node (disks: {(inventory.Disks.Count == 0 ? "none" : string.Join(", ", inventory.Disks.Select(d => d.Name)))})");
                continue;
            }

            if (namedAs.TryGetValue(disk.Name, out var first))
            {
                problems.Add($"disk {path}: the same disk as {first} ({disk.Name})");
                continue;
            }

            namedAs[disk.Name] = path;
            if (disk.IsVirtual || disk.ReadOnly)
            {
                problems.Add($"disk {path}: {Why(disk)}, cannot install to it");
                continue;
            }

            chosen.Add(disk);
        }

        return chosen;
    }

    private static string Why(BlockDisk d) => d.IsVirtual ? "virtual" : d.ReadOnly ? "read-only" : d.Removable ? "removable" : "eligible";

    private static long Mib(long bytes) => bytes >> 20;
}
