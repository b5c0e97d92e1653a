using Kldload.Dhcp;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// What each network-boot client loads (docs/boot.md, steps 1 and 2), from <c>Boot:Loaders</c> and
/// <c>Boot:Loader</c>: iPXE itself (user class <c>iPXE</c> or option 175) gets <c>{ServerUrl}/boot.ipxe</c>,
/// which ends the chainload loop; UEFI HTTP boot (arch 16/19, vendor class <c>HTTPClient</c>) gets an http
/// URL to the loader; PXE ROMs get a TFTP path by architecture (RFC 4578 section 2.1): 0 → Bios, 7/9 →
/// EfiX64, 11 → EfiArm64; a client that only lists option 67 in option 55 is taken as BIOS. Other
/// architectures get nothing rather than a loader they cannot run. A UEFI x64 client whose loader kind is
/// <see cref="BootLoaderKind.Grub"/> gets <c>shimx64.efi</c> instead (the signed chain, docs/boot.md "Secure Boot").
/// </summary>
public sealed class DhcpBootPolicy(BootSettings boot, ServerUrl serverUrl, DhcpBootRecorder? recorder = null, BootLoaderChoice? choice = null) : IDhcpBootPolicy
{
    /// <summary>The TFTP name of Debian's signed shim (<c>Boot:Grub:ShimX64</c>).</summary>
    public const string ShimX64 = "shimx64.efi";

    /// <summary>The TFTP name shim loads next from the directory it came from: Debian's signed GRUB network image (<c>Boot:Grub:GrubX64</c>).</summary>
    public const string GrubX64 = "grubx64.efi";

    private Uri? _serverUrl;

    /// <summary>The URL nodes use, resolved once (after the HTTP listener is bound).</summary>
    private Uri BaseUrl => _serverUrl ??= serverUrl.Value;

    public BootAnswer? Decide(BootClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        var kind = choice?.For(client.HardwareAddress) ?? boot.Loader;
        var answer = Decide(client, boot.Loaders, kind, BaseUrl);
        recorder?.Seen(client, answer);
        return answer;
    }

    /// <summary>The answer for <paramref name="client"/> with loader chain <paramref name="kind"/>; a pure function of its arguments.</summary>
    public static BootAnswer? Decide(BootClient client, BootLoaderSettings loaders, BootLoaderKind kind, Uri serverUrl)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(loaders);
        ArgumentNullException.ThrowIfNull(serverUrl);
        string Combine(string path) => serverUrl.AbsoluteUri.TrimEnd('/') + "/" + path;
        if (client.IsIpxe)
        {
            return new BootAnswer { BootFile = Combine("boot.ipxe") };
        }

        var grub = kind == BootLoaderKind.Grub;
        if (client.IsHttpClient)
        {
            var file = client.Architecture == ClientArchitecture.EfiArm64Http ? loaders.EfiArm64
                : grub ? ShimX64 : loaders.EfiX64Http;
            return new BootAnswer { BootFile = Combine("tftp/" + file), VendorClass = "HTTPClient" };
        }

        // A plain client that asks for option 67 (full mode only) is treated like a PXE client without option 93.
        if (!client.IsPxeClient && !client.RequestsBootFile)
        {
            return null;
        }

        string? loader = client.Architecture switch
        {
            null or ClientArchitecture.X86Bios => loaders.Bios,
            ClientArchitecture.EfiX64 or ClientArchitecture.EfiBc => grub ? ShimX64 : loaders.EfiX64,
            ClientArchitecture.EfiArm64 => loaders.EfiArm64,
            _ => null,
        };
        return loader is null ? null : new BootAnswer { BootFile = loader, VendorClass = client.IsPxeClient ? "PXEClient" : null };
    }
}
