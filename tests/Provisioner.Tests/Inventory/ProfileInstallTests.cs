using System.Text.Json;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Tests.Inventory;

public sealed class ProfileInstallTests
{
    private static ProfileInstall Block(string? target, params string[] disks) =>
        new() { Target = target, Disks = new InstallDisks { Paths = [.. disks] } };

    [Theory]
    [InlineData("/dev/vda")]
    [InlineData("/dev/sdb")]
    [InlineData("/dev/nvme0n1")]
    [InlineData("/dev/disk/by-id/nvme-Samsung_SSD_980_S64DNX0R123456")]
    [InlineData("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4")]
    [InlineData("/dev/disk/by-id/ata-WDC:X+1.0")]
    public void IsDiskPath_WholeDiskNames_Accepted(string path) => Assert.True(ProfileInstall.IsDiskPath(path));

    [Theory]
    [InlineData("vda")]
    [InlineData("/dev/")]
    [InlineData("/dev/VDA")]
    [InlineData("/dev/mapper/root")]
    [InlineData("/dev/../etc/passwd")]
    [InlineData("/dev/disk/by-uuid/1234")]
    [InlineData("/dev/disk/by-path/pci-0000:00:04.0")]
    [InlineData("/dev/disk/by-id/")]
    [InlineData("/dev/disk/by-id/../../sda")]
    [InlineData("/dev/disk/by-id/ata-X-part2")]
    [InlineData("/dev/vda 1")]
    public void IsDiskPath_OtherNames_Refused(string path) => Assert.False(ProfileInstall.IsDiskPath(path));

    [Fact]
    public void Validate_GoodBlocks_NoErrors()
    {
        Assert.Empty(Block("zfs-root", "/dev/vda", "/dev/vdb").Validate());
        Assert.Empty(new ProfileInstall { Target = "zfs-root", Disks = new InstallDisks { Keyword = "auto" } }.Validate());
    }

    [Fact]
    public void Validate_EveryProblem_ListedAtOnce()
    {
        var errors = Block("zfs", "/dev/vda", "disk2", "/dev/vda", "/dev/vda").Validate();

        Assert.Equal(
        [
            "install.target 'zfs': allowed: zfs-root",
            "install.disks 'disk2': not a whole-disk path: use /dev/NAME (/dev/vda, /dev/nvme0n1) or /dev/disk/by-id/ID",
            "install.disks '/dev/vda': named 3 times",
        ], errors);
    }

    [Fact]
    public void Validate_NoTargetNoDisks_BothNamed()
    {
        Assert.Equal(["install.target '': allowed: zfs-root", "install.disks: name at least one disk, or \"auto\" (every non-removable, writable disk)"], new ProfileInstall().Validate());
        Assert.Contains("install.disks: name at least one disk", Block("zfs-root").Validate()[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Json_StringOrArray_RoundTripsInItsOwnForm()
    {
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var auto = JsonSerializer.Deserialize<ProfileInstall>("""{"target":"zfs-root","disks":"auto"}""", web)!;
        var listed = JsonSerializer.Deserialize<ProfileInstall>("""{"target":"zfs-root","disks":["/dev/vda","/dev/vdb"]}""", web)!;

        Assert.True(auto.Disks!.IsAuto);
        Assert.Equal(["/dev/vda", "/dev/vdb"], listed.Disks!.Paths);
        Assert.Equal("""{"target":"zfs-root","disks":"auto"}""", JsonSerializer.Serialize(auto, web));
        Assert.Equal("""{"target":"zfs-root","disks":["/dev/vda","/dev/vdb"]}""", JsonSerializer.Serialize(listed, web));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ProfileInstall>("""{"disks":7}""", web));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ProfileInstall>("""{"disks":["/dev/vda",7]}""", web));
    }
}
