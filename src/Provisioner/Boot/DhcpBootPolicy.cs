using Kldload.Dhcp;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Hosting.Settings;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// What each network-boot client loads (docs/boot.md, steps 1 and 2), from <c>Boot:Loaders</c>:
/// iPXE itself (user class <c>iPXE</c> or option 175) gets <c>{ServerUrl}/boot.ipxe</c>, which ends the
/// chainload loop; UEFI HTTP boot (arch 16/19, vendor class <c>HTTPClient</c>) gets an http URL to the
/// loader; PXE ROMs get a TFTP path by architecture (RFC 4578 section 2.1): 0 → Bios, 7/9 → EfiX64,
/// 11 → EfiArm64; a client that only lists option 67 in option 55 is taken as BIOS. Other architectures get nothing rather than a loader they cannot run.
/// </summary>
public sealed class DhcpBootPolicy(BootSettings boot, ServerUrl serverUrl, DhcpBootRecorder? recorder = null) : IDhcpBootPolicy
{
    private Uri? _serverUrl;

    /// <summary>The URL nodes use, resolved once (after the HTTP listener is bound).</summary>
    private Uri BaseUrl => _serverUrl ??= serverUrl.Value;

    public BootAnswer? Decide(BootClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        var answer = DecideLoader(client);
        recorder?.Seen(client, answer);
        return answer;
    }

    private BootAnswer? DecideLoader(BootClient client)
    {
        var loaders = boot.Loaders;
        if (client.IsIpxe)
        {
            return new BootAnswer { BootFile = Combine("boot.ipxe") };
        }

        if (client.IsHttpClient)
        {
            var file = client.Architecture == ClientArchitecture.EfiArm64Http ? loaders.EfiArm64 : loaders.EfiX64Http;
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
            ClientArchitecture.EfiX64 or ClientArchitecture.EfiBc => loaders.EfiX64,
            ClientArchitecture.EfiArm64 => loaders.EfiArm64,
            _ => null,
        };
        return loader is null ? null : new BootAnswer { BootFile = loader, VendorClass = client.IsPxeClient ? "PXEClient" : null };
    }

    private string Combine(string path) => BaseUrl.AbsoluteUri.TrimEnd('/') + "/" + path;
}
