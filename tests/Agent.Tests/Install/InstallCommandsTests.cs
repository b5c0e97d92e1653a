using Kldload.Agent.Install;

namespace Kldload.Agent.Tests.Install;

public sealed class InstallCommandsTests
{
    private static PartitionPlan PlanOf(params string[] names)
    {
        var (layout, vdevs) = PartitionPlanner.Layout(names.Length);
        return new PartitionPlan([.. names.Select(n => new DiskPlan(n, 8L << 30))], layout, vdevs, 1L << 30);
    }

    private static string[][] Argvs(PartitionPlan plan) => [.. InstallCommands.For(plan, "debian", "12.8").Select(s => s.Argv.ToArray())];

    private static readonly string[] PoolOptions =
    [
        "zpool", "create", "-f", "-o", "ashift=12", "-o", "autotrim=on",
        "-O", "encryption=aes-256-gcm", "-O", "keyformat=raw", "-O", "keylocation=file:///run/kldload/pool.key",
        "-O", "compression=lz4", "-O", "acltype=posixacl", "-O", "xattr=sa", "-O", "relatime=on",
        "-O", "canmount=off", "-O", "mountpoint=none", "-R", "/mnt/kldload", "rpool",
    ];

    private static string[] Tail(string esp) =>
    [
        "zfs create -o canmount=off -o mountpoint=none rpool/ROOT",
        "zfs create -o canmount=noauto -o mountpoint=/ rpool/ROOT/debian-12.8",
        "zfs mount rpool/ROOT/debian-12.8",
        "zpool set bootfs=rpool/ROOT/debian-12.8 rpool",
        "mkdir -p /mnt/kldload/boot/efi",
        $"mount -t vfat -o umask=0077 {esp} /mnt/kldload/boot/efi",
    ];

    [Fact]
    public void For_OneDisk_ExactCommands()
    {
        var argvs = Argvs(PlanOf("vda"));

        Assert.Equal(["sgdisk", "--zap-all", "/dev/vda"], argvs[0]);
        Assert.Equal(["sgdisk", "-n", "1:1M:+512M", "-t", "1:EF00", "-c", "1:ESP", "-n", "2:0:0", "-t", "2:BF00", "-c", "2:rpool", "/dev/vda"], argvs[1]);
        Assert.Equal(["udevadm", "settle", "--timeout=30"], argvs[2]);
        Assert.Equal(["mkfs.vfat", "-F", "32", "-n", "ESP", "/dev/vda1"], argvs[3]);
        Assert.Equal([.. PoolOptions, "/dev/vda2"], argvs[4]);
        Assert.Equal(Tail("/dev/vda1"), argvs[5..].Select(a => string.Join(' ', a)));
    }

    [Fact]
    public void For_TwoDisks_BothPartitionedAndOneMirror()
    {
        var argvs = Argvs(PlanOf("vda", "vdb"));

        Assert.Equal(
        [
            "sgdisk --zap-all /dev/vda",
            "sgdisk -n 1:1M:+512M -t 1:EF00 -c 1:ESP -n 2:0:0 -t 2:BF00 -c 2:rpool /dev/vda",
            "sgdisk --zap-all /dev/vdb",
            "sgdisk -n 1:1M:+512M -t 1:EF00 -c 1:ESP -n 2:0:0 -t 2:BF00 -c 2:rpool /dev/vdb",
            "udevadm settle --timeout=30",
            "mkfs.vfat -F 32 -n ESP /dev/vda1",
            "mkfs.vfat -F 32 -n ESP /dev/vdb1",
        ], argvs[..7].Select(a => string.Join(' ', a)));
        Assert.Equal([.. PoolOptions, "mirror", "/dev/vda2", "/dev/vdb2"], argvs[7]);
        Assert.Equal(Tail("/dev/vda1"), argvs[8..].Select(a => string.Join(' ', a)));
    }

    [Fact]
    public void For_FourDisks_TwoMirroredPairsWithNvmePartitionNames()
    {
        var argvs = Argvs(PlanOf("nvme0n1", "nvme1n1", "sda", "sdb"));

        Assert.Equal(8 + 1 + 4 + 1 + 6, argvs.Length);
        Assert.Equal([.. PoolOptions, "mirror", "/dev/nvme0n1p2", "/dev/nvme1n1p2", "mirror", "/dev/sda2", "/dev/sdb2"], argvs[13]);
        Assert.Equal(["mkfs.vfat", "-F", "32", "-n", "ESP", "/dev/nvme1n1p1"], argvs[10]);
        Assert.Equal(Tail("/dev/nvme0n1p1"), argvs[14..].Select(a => string.Join(' ', a)));
    }

    [Theory]
    [InlineData("debian", "12.8", "rpool/ROOT/debian-12.8")]
    [InlineData("live_x", "2024:1", "rpool/ROOT/live_x-2024:1")]
    [InlineData("debian", "12 8", null)]
    [InlineData("debian", "1/2", null)]
    [InlineData("-x", "1", null)]
    [InlineData("debian", "", null)]
    public void BootEnvironment_ZfsNameRules(string image, string version, string? expected) =>
        Assert.Equal(expected, InstallCommands.BootEnvironment(image, version));

    [Fact]
    public void For_VersionNotAZfsName_Throws() =>
        Assert.Throws<ArgumentException>(() => InstallCommands.For(PlanOf("vda"), "debian", "12/8"));
}
