using Kldload.Agent.Install;
using Kldload.Contracts;

namespace Kldload.Agent.Tests.Install;

/// <summary>
/// The disk inventory read from a fake <c>/sys/block</c> and <c>/dev/disk/by-id</c> tree in a temp
/// directory, and the partition plans made from it.
/// </summary>
public sealed class PartitionPlanTests : IDisposable
{
    private const long GiB = 1L << 30;
    private const long Rootfs = 1536L << 20;
    private readonly string _root = Directory.CreateTempSubdirectory("kldload-disks-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Disk(string name, long bytes, bool removable = false, bool readOnly = false)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "sys/block", name)).FullName;
        File.WriteAllText(Path.Combine(dir, "size"), (bytes / 512).ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        File.WriteAllText(Path.Combine(dir, "removable"), removable ? "1\n" : "0\n");
        File.WriteAllText(Path.Combine(dir, "ro"), readOnly ? "1\n" : "0\n");
    }

    private void ById(string id, string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "dev/disk/by-id")).FullName;
        File.CreateSymbolicLink(Path.Combine(dir, id), "../../" + name);
    }

    private static InstallRequest Named(params string[] disks) => new("zfs-root", false, disks, 3);

    private static readonly InstallRequest Auto = new("zfs-root", true, null, 3);

    private PartitionPlan Plan(InstallRequest request)
    {
        Assert.True(PartitionPlanner.TryPlan(DiskInventory.Read(_root), request, Rootfs, out var plan, out var errors), string.Join("\n", errors));
        return plan!;
    }

    private IReadOnlyList<string> Errors(InstallRequest request, long rootfs = Rootfs)
    {
        Assert.False(PartitionPlanner.TryPlan(DiskInventory.Read(_root), request, rootfs, out var plan, out var errors));
        Assert.Null(plan);
        return errors;
    }

    [Fact]
    public void Read_FakeSysfs_SizesFlagsAndByIdLinks()
    {
        Disk("vdb", 4 * GiB);
        Disk("sr0", 700L << 20, removable: true, readOnly: true);
        Disk("loop0", 100L << 20);
        ById("virtio-SN-B", "vdb");
        Directory.CreateDirectory(Path.Combine(_root, "sys/block/broken"));

        var inventory = DiskInventory.Read(_root);

        Assert.Equal(
        [
            new BlockDisk("loop0", 100L << 20, false, false),
            new BlockDisk("sr0", 700L << 20, true, true),
            new BlockDisk("vdb", 4 * GiB, false, false),
        ], inventory.Disks);
        Assert.Equal("vdb", inventory.Resolve("/dev/disk/by-id/virtio-SN-B"));
        Assert.Equal("vdb", inventory.Resolve("/dev/vdb"));
        Assert.Null(inventory.Resolve("/dev/disk/by-id/virtio-NONE"));
        Assert.Null(inventory.Resolve("/dev/mapper/x"));
        Assert.Empty(DiskInventory.Read(Path.Combine(_root, "nothing")).Disks);
    }

    [Fact]
    public void Plan_OneDisk_SingleVdevWithEspAndZfsPartition()
    {
        Disk("vda", 4 * GiB);

        var plan = Plan(Named("/dev/vda"));

        var disk = Assert.Single(plan.Disks);
        Assert.Equal(("/dev/vda", "/dev/vda1", "/dev/vda2"), (disk.Device, disk.EspPartition, disk.ZfsPartition));
        Assert.Equal(PoolLayout.Single, plan.Layout);
        Assert.Equal([0], Assert.Single(plan.Vdevs));
    }

    [Fact]
    public void Plan_TwoDisksAuto_OneMirrorSkippingRemovableReadOnlyAndVirtual()
    {
        Disk("vda", 4 * GiB);
        Disk("vdb", 4 * GiB);
        Disk("sda", 16 * GiB, removable: true);
        Disk("sr0", 1 * GiB, readOnly: true);
        Disk("zram0", 8 * GiB);
        Disk("ram0", 8 * GiB);
        Disk("loop3", 8 * GiB);

        var plan = Plan(Auto);

        Assert.Equal(["vda", "vdb"], plan.Disks.Select(d => d.Name));
        Assert.Equal(PoolLayout.Mirror, plan.Layout);
        Assert.Equal([0, 1], Assert.Single(plan.Vdevs));
    }

    [Fact]
    public void Plan_FourDisksNamedInOrder_TwoMirroredPairsInThatOrder()
    {
        foreach (var n in new[] { "nvme0n1", "nvme1n1", "sda", "sdb" })
        {
            Disk(n, 8 * GiB);
        }

        ById("nvme-SAMSUNG_1", "nvme1n1");

        var plan = Plan(Named("/dev/sdb", "/dev/disk/by-id/nvme-SAMSUNG_1", "/dev/nvme0n1", "/dev/sda"));

        Assert.Equal(["sdb", "nvme1n1", "nvme0n1", "sda"], plan.Disks.Select(d => d.Name));
        Assert.Equal("/dev/nvme1n1p2", plan.Disks[1].ZfsPartition);
        Assert.Equal(PoolLayout.MirroredPairs, plan.Layout);
        Assert.Equal([[0, 1], [2, 3]], plan.Vdevs.Select(v => v.ToArray()));
    }

    [Theory]
    [InlineData(3, "Mirror", "0,1,2")]
    [InlineData(5, "MirroredPairs", "0,1|2,3,4")]
    [InlineData(6, "MirroredPairs", "0,1|2,3|4,5")]
    public void Layout_ThreeFiveSix_AsDocumented(int count, string layout, string vdevs)
    {
        var (actual, groups) = PartitionPlanner.Layout(count);

        Assert.Equal(layout, actual.ToString());
        Assert.Equal(vdevs, string.Join('|', groups.Select(g => string.Join(',', g))));
    }

    [Fact]
    public void Plan_NamedDiskMissingTwiceVirtualOrReadOnly_EveryErrorAtOnce()
    {
        Disk("vda", 4 * GiB);
        Disk("sr0", 1 * GiB, readOnly: true);
        Disk("loop0", 8 * GiB);
        ById("virtio-A", "vda");

        var errors = Errors(Named("/dev/vda", "/dev/vdz", "/dev/disk/by-id/virtio-A", "/dev/sr0", "/dev/loop0", "/dev/disk/by-id/gone"));

        Assert.Equal(
        [
            "disk /dev/vdz: does not exist on this node (disks: loop0, sr0, vda)",
            "disk /dev/disk/by-id/virtio-A: the same disk as /dev/vda (vda)",
            "disk /dev/sr0: read-only, cannot install to it",
            "disk /dev/loop0: virtual, cannot install to it",
            "disk /dev/disk/by-id/gone: does not exist on this node (disks: loop0, sr0, vda)",
        ], errors);
    }

    [Fact]
    public void Plan_DiskSmallerThanEspImageAndReserve_NamesTheSizes()
    {
        var minimum = PartitionPlanner.MinimumDiskBytes(Rootfs);
        Disk("vda", minimum);
        Disk("vdb", minimum - 512);

        var error = Assert.Single(Errors(Named("/dev/vda", "/dev/vdb")));

        Assert.Equal($"disk vdb: {(minimum - 512) >> 20} MiB is smaller than ESP + image + reserve (512 + 1536 + 1024 = 3072 MiB)", error);
    }

    [Fact]
    public void Plan_AutoWithNoEligibleDisk_SaysWhatItSaw()
    {
        Disk("sda", 16 * GiB, removable: true);
        Disk("loop0", 8 * GiB);

        Assert.Equal(["disks auto: no eligible disk (non-removable, writable, not loop/ram/zram); seen: loop0 (virtual), sda (removable)"], Errors(Auto));
        Assert.Equal(["disks auto: no eligible disk (non-removable, writable, not loop/ram/zram); seen: none"], ErrorsIn(Path.Combine(_root, "empty")));
    }

    private static IReadOnlyList<string> ErrorsIn(string root)
    {
        Assert.False(PartitionPlanner.TryPlan(DiskInventory.Read(root), Auto, Rootfs, out _, out var errors));
        return errors;
    }

    [Fact]
    public void Plan_UnknownTargetAndNoDisks_BothNamed()
    {
        Disk("vda", 4 * GiB);

        Assert.Equal(["target 'ext4-root': this agent installs zfs-root only", "disks: none named"], Errors(new InstallRequest("ext4-root", false, [], 3)));
    }
}
