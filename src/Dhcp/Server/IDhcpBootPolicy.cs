using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>What the engine knows about a booting client when it asks the boot policy.</summary>
public sealed record BootClient
{
    public required string HardwareAddress { get; init; }

    /// <summary>Option 93 (first entry), or the <c>Arch:NNNNN</c> part of option 60; null if neither.</summary>
    public ClientArchitecture? Architecture { get; init; }

    /// <summary>Option 60 begins with <c>PXEClient</c> (PXE 2.1 section 2.2.1).</summary>
    public bool IsPxeClient { get; init; }

    /// <summary>Option 60 begins with <c>HTTPClient</c> (UEFI 2.x section 24.7, HTTP boot).</summary>
    public bool IsHttpClient { get; init; }

    /// <summary>User class <c>iPXE</c> (option 77) or iPXE's option 175 is present.</summary>
    public bool IsIpxe { get; init; }

    public Guid? MachineId { get; init; }

    /// <summary>Option 82 of a relayed request (giaddr set); null for a request that came straight from the client.</summary>
    public RelayAgentInformation? RelayAgentInformation { get; init; }

    /// <summary>Option 55 asks for option 67, the boot file name: the client wants boot information.</summary>
    public bool RequestsBootFile { get; init; }

    /// <summary>The request came by DHCPv6 (RFC 8415), not DHCPv4.</summary>
    public bool IsIpv6 { get; init; }

    /// <summary>True when the client is any kind of network boot client.</summary>
    public bool IsBootClient => IsPxeClient || IsHttpClient || IsIpxe;

    /// <summary>Reads the boot-relevant options of a request.</summary>
    public static BootClient From(DhcpMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = request.Options;
        var vendor = options.GetString(DhcpOptionCode.VendorClassIdentifier) ?? string.Empty;
        var arches = options.ClientArchitectures;
        ClientArchitecture? arch = arches.Count > 0 ? arches[0] : null;
        if (arch is null && vendor.Length >= 20 && vendor.AsSpan(9).StartsWith(":Arch:", StringComparison.Ordinal)
            && ushort.TryParse(vendor.AsSpan(15, 5), out var fromVendor))
        {
            arch = (ClientArchitecture)fromVendor;
        }

        return new BootClient
        {
            HardwareAddress = request.HardwareAddressText,
            Architecture = arch,
            IsPxeClient = vendor.StartsWith("PXEClient", StringComparison.Ordinal),
            IsHttpClient = vendor.StartsWith("HTTPClient", StringComparison.Ordinal),
            IsIpxe = options.Contains(DhcpOptionCode.IpxeEncapsulated) || options.UserClasses.Contains("iPXE"),
            MachineId = options.ClientMachineId,
            // Option 82 is the relay's word about where the client sits (RFC 3046): a client that is
            // not behind a relay (giaddr 0) may send one too, and it proves nothing.
            RelayAgentInformation = ReservationBook.TrustedRelayInformation(request),
            RequestsBootFile = options.ParameterRequestList.Contains(DhcpOptionCode.BootFileName),
        };
    }
}

/// <summary>What a boot client is told: the boot file (a TFTP path or an http URL) and where to get it.</summary>
public sealed record BootAnswer
{
    /// <summary>Goes into <c>file</c> (and option 67 when the client asks for it).</summary>
    public required string BootFile { get; init; }

    /// <summary>Option 60 echoed to the client: <c>PXEClient</c> or <c>HTTPClient</c>; null for none.</summary>
    public string? VendorClass { get; init; }
}

/// <summary>Decides what each boot client loads. The provisioner implements it from <c>Boot:Loaders</c>.</summary>
public interface IDhcpBootPolicy
{
    /// <summary>The boot answer for <paramref name="client"/>; null when it should get none.</summary>
    BootAnswer? Decide(BootClient client);
}
