namespace Kldload.Provisioner.Hosting.Settings;

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

/// <summary>The <c>Boot</c> section: what nodes are told to boot.</summary>
public sealed record BootSettings
{
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
            Bios = Loader(r, "Bios", defaults.Bios),
            EfiX64 = Loader(r, "EfiX64", defaults.EfiX64),
            EfiArm64 = Loader(r, "EfiArm64", defaults.EfiArm64),
            EfiX64Http = Loader(r, "EfiX64Http", defaults.EfiX64Http),
        };

        return new BootSettings
        {
            DefaultChannel = channel,
            TokenLifetime = r.Duration("Boot:TokenLifetime", TimeSpan.FromMinutes(15), TimeSpan.FromSeconds(30), TimeSpan.FromDays(1)),
            Loaders = loaders,
        };
    }

    /// <summary>Channel, image and profile names: a conservative alphabet that is safe in URLs and file names.</summary>
    public static bool IsValidName(string name)
        => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';

    private static string Loader(SettingsReader r, string name, string defaultValue)
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
