using System.Globalization;

namespace Kldload.Agent.Install;

/// <summary>One command of an install: what it does, in a sentence, and its exact argv (no shell).</summary>
internal sealed record InstallStep(string Purpose, IReadOnlyList<string> Argv);

/// <summary>
/// The commands that carry out a <see cref="PartitionPlan"/>, as data: the agent runs them in order
/// and stops at the first failure; the tests compare them as exact arrays. The tools and the Debian 12
/// packages that provide them (the live image carries them; ZFS comes from contrib):
/// <list type="bullet">
/// <item><c>sgdisk</c>: gdisk</item>
/// <item><c>udevadm</c>: udev</item>
/// <item><c>mkfs.vfat</c>: dosfstools</item>
/// <item><c>zpool</c>, <c>zfs</c>: zfsutils-linux (contrib; the module from zfs-dkms)</item>
/// <item><c>mkdir</c>: coreutils; <c>mount</c>: mount</item>
/// </list>
/// </summary>
internal static class InstallCommands
{
    /// <summary>The pool's name.</summary>
    public const string Pool = "rpool";

    /// <summary>Where the pool is imported during the install (<c>zpool create -R</c>: also no cache file).</summary>
    public const string AltRoot = "/mnt/kldload";

    /// <summary>
    /// The raw 32-byte pool key while the agent runs: on tmpfs, 0600, written from the TPM-sealed copy
    /// and removed when the pool is created (installed) or its key loaded (boot).
    /// </summary>
    public const string KeyFile = "/run/kldload/pool.key";

    /// <summary>
    /// The dataset of one boot environment: <c>rpool/ROOT/&lt;image&gt;-&lt;version&gt;</c>; null when the name
    /// or version holds characters a ZFS name cannot (letters, digits, <c>_ - . :</c> only).
    /// </summary>
    public static string? BootEnvironment(string image, string version)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(version);
        var name = image + "-" + version;
        return image.Length > 0 && version.Length > 0 && name.Length <= 200 && char.IsAsciiLetterOrDigit(name[0])
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or ':')
            ? $"{Pool}/ROOT/{name}"
            : null;
    }

    /// <summary>
    /// Every command of a fresh install: per disk, wipe the old GPT and write the new one (ESP type EF00,
    /// ZFS type BF00), wait for the partition nodes, make the ESP; then the encrypted pool over the
    /// vdevs, the ROOT container, the boot environment mounted at the alternate root, bootfs, and the
    /// first disk's ESP mounted under it for the boot loader.
    /// </summary>
    public static IReadOnlyList<InstallStep> For(PartitionPlan plan, string image, string version)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var environment = BootEnvironment(image, version)
            ?? throw new ArgumentException($"image '{image}' version '{version}' does not make a ZFS dataset name (letters, digits, _ - . : only)", nameof(version));
        var steps = new List<InstallStep>();
        foreach (var disk in plan.Disks)
        {
            steps.Add(new($"{disk.Name}: erase the partition tables (GPT and its backup, MBR)", ["sgdisk", "--zap-all", disk.Device]));
            steps.Add(new($"{disk.Name}: GPT with a {PartitionPlanner.EspBytes >> 20} MiB ESP and a ZFS partition on the rest",
            [
                "sgdisk",
                "-n", string.Create(CultureInfo.InvariantCulture, $"1:1M:+{PartitionPlanner.EspBytes >> 20}M"), "-t", "1:EF00", "-c", "1:ESP",
                "-n", "2:0:0", "-t", "2:BF00", "-c", "2:rpool",
                disk.Device,
            ]));
        }

        steps.Add(new("wait for the kernel's partition devices", ["udevadm", "settle", "--timeout=30"]));
        foreach (var disk in plan.Disks)
        {
            steps.Add(new($"{disk.Name}: FAT32 on the ESP", ["mkfs.vfat", "-F", "32", "-n", "ESP", disk.EspPartition]));
        }

        List<string> create =
        [
            "zpool", "create", "-f",
            "-o", "ashift=12", "-o", "autotrim=on",
            "-O", "encryption=aes-256-gcm", "-O", "keyformat=raw", "-O", "keylocation=file://" + KeyFile,
            "-O", "compression=lz4", "-O", "acltype=posixacl", "-O", "xattr=sa", "-O", "relatime=on",
            "-O", "canmount=off", "-O", "mountpoint=none",
            "-R", AltRoot, Pool,
        ];
        foreach (var vdev in plan.Vdevs)
        {
            if (vdev.Count > 1)
            {
                create.Add("mirror");
            }

            create.AddRange(vdev.Select(i => plan.Disks[i].ZfsPartition));
        }

        steps.Add(new($"pool {Pool} ({plan.Layout}), encrypted with the TPM-sealed raw key", create));
        steps.Add(new("the container of the boot environments", ["zfs", "create", "-o", "canmount=off", "-o", "mountpoint=none", $"{Pool}/ROOT"]));
        steps.Add(new("the boot environment of this image", ["zfs", "create", "-o", "canmount=noauto", "-o", "mountpoint=/", environment]));
        steps.Add(new("mount it at the alternate root", ["zfs", "mount", environment]));
        steps.Add(new("boot it by default", ["zpool", "set", "bootfs=" + environment, Pool]));
        steps.Add(new("the ESP's mount point in the new root", ["mkdir", "-p", AltRoot + "/boot/efi"]));
        steps.Add(new("mount the first disk's ESP for the boot loader", ["mount", "-t", "vfat", "-o", "umask=0077", plan.Disks[0].EspPartition, AltRoot + "/boot/efi"]));
        return steps;
    }
}
