namespace Kldload.Provisioner.Settings;

/// <summary>Boot loader file names per client architecture (<c>Boot:Loaders:*</c>), paths under <c>Tftp:Root</c>.</summary>
public sealed record BootLoaderSettings
{
    /// <summary>Legacy BIOS PXE (option 93 = 0).</summary>
    public string Bios { get; init; } = "undionly.kpxe";

    /// <summary>
    /// UEFI x64 PXE (option 93 = 7 or 9). iPXE on the firmware's own network driver: a plain file in
    /// Debian's ipxe package (its <c>ipxe.efi</c> is a symlink out of <c>/usr/lib/ipxe</c>, never served).
    /// </summary>
    public string EfiX64 { get; init; } = "snponly.efi";

    /// <summary>UEFI ARM64 PXE (option 93 = 11).</summary>
    public string EfiArm64 { get; init; } = "ipxe-arm64.efi";

    /// <summary>UEFI HTTP boot (option 93 = 16): fetched over HTTP from <c>/tftp/</c> by this name.</summary>
    public string EfiX64Http { get; init; } = "snponly.efi";
}

/// <summary>
/// Where the signed loaders of <see cref="BootLoaderKind.Grub"/> are on this machine (<c>Boot:Grub:*</c>):
/// files of Debian packages, served over TFTP (and <c>/tftp/</c>) under the fixed names shim expects.
/// </summary>
public sealed record GrubLoaderSettings
{
    /// <summary>Debian <c>shim-signed</c>: shim signed by the Microsoft UEFI CA (served as <c>shimx64.efi</c>).</summary>
    public const string DefaultShimX64 = "/usr/lib/shim/shimx64.efi.signed";

    /// <summary>Debian <c>grub-efi-amd64-signed</c>: GRUB's network image signed by Debian (served as <c>grubx64.efi</c>).</summary>
    public const string DefaultGrubX64 = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed";

    /// <summary><c>Boot:Grub:ShimX64</c>.</summary>
    public string ShimX64 { get; init; } = DefaultShimX64;

    /// <summary><c>Boot:Grub:GrubX64</c>.</summary>
    public string GrubX64 { get; init; } = DefaultGrubX64;
}

/// <summary>The <c>Boot</c> section: what nodes are told to boot.</summary>
public sealed record BootSettings
{
    /// <summary><c>Boot:Loader</c>: the loader chain of UEFI x64 nodes whose profile sets none.</summary>
    public BootLoaderKind Loader { get; init; } = BootLoaderKind.Ipxe;

    public GrubLoaderSettings Grub { get; init; } = new();

    /// <summary><c>Boot:DefaultChannel</c>: the image channel unknown nodes boot; null = they get no image.</summary>
    public string? DefaultChannel { get; init; }

    /// <summary><c>Boot:TokenLifetime</c>: how long a boot token opens attestation sessions.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromMinutes(15);

    public BootLoaderSettings Loaders { get; init; } = new();

    internal static BootSettings Read(SettingsReader r)
    {
        var defaults = new BootLoaderSettings();
        var channel = r.OptionalString("Boot:DefaultChannel");
        if (channel is not null && !IsValidName(channel))
        {
            r.AddError("Boot:DefaultChannel", channel, "allowed: a channel name of letters, digits, '-', '_' and '.'");
        }

        var loaders = new BootLoaderSettings
        {
            Bios = LoaderFile(r, "Bios", defaults.Bios),
            EfiX64 = LoaderFile(r, "EfiX64", defaults.EfiX64),
            EfiArm64 = LoaderFile(r, "EfiArm64", defaults.EfiArm64),
            EfiX64Http = LoaderFile(r, "EfiX64Http", defaults.EfiX64Http),
        };

        var grub = new GrubLoaderSettings
        {
            ShimX64 = AbsoluteFile(r, "Boot:Grub:ShimX64", GrubLoaderSettings.DefaultShimX64),
            GrubX64 = AbsoluteFile(r, "Boot:Grub:GrubX64", GrubLoaderSettings.DefaultGrubX64),
        };

        return new BootSettings
        {
            Loader = r.Enum("Boot:Loader", BootLoaderKind.Ipxe),
            Grub = grub,
            DefaultChannel = channel,
            TokenLifetime = r.Duration("Boot:TokenLifetime", TimeSpan.FromMinutes(15), TimeSpan.FromSeconds(30), TimeSpan.FromDays(1)),
            Loaders = loaders,
        };
    }

    /// <summary>Channel, image and profile names: a conservative alphabet that is safe in URLs and file names.</summary>
    public static bool IsValidName(string name)
        => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';

    /// <summary>A loader file outside <c>Tftp:Root</c>: an absolute path (it may be missing: the host warns, naming the package).</summary>
    private static string AbsoluteFile(SettingsReader r, string key, string defaultValue)
    {
        var value = r.String(key, defaultValue);
        if (!Path.IsPathFullyQualified(value) || value.Any(char.IsControl))
        {
            r.AddError(key, value, "allowed: an absolute path to a signed EFI loader file");
        }

        return value;
    }

    private static string LoaderFile(SettingsReader r, string name, string defaultValue)
    {
        var key = $"Boot:Loaders:{name}";
        var value = r.String(key, defaultValue);
        if (value.Contains("..", StringComparison.Ordinal) || value.StartsWith('/') || value.Contains('\\', StringComparison.Ordinal) || value.Any(char.IsControl))
        {
            r.AddError(key, value, "allowed: a relative path under Tftp:Root without '..' or '\\'");
        }

        return value;
    }
}
