using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>What identifies the client of a request, and whether what its lease would keep fits.</summary>
internal static class DhcpClientIdentity
{
    /// <summary>RFC 2131 section 4.2: option 61 when present, otherwise htype and chaddr.</summary>
    public static string Of(DhcpMessage request) =>
        request.Options.Get(DhcpOptionCode.ClientIdentifier) is { Length: > 0 } id
            ? "id:" + Convert.ToHexString(id)
            : "hw:" + Convert.ToHexString(request.HardwareAddress);

    /// <summary>
    /// True when an option the lease keeps (61, 12, 82) is longer than <see cref="DhcpEngine.MaxLeaseOptionLength"/>:
    /// only RFC 3396 concatenation of several instances makes one that long.
    /// </summary>
    public static bool HasOversizedLeaseOption(DhcpMessage request) =>
        request.Options.Get(DhcpOptionCode.ClientIdentifier) is { Length: > DhcpEngine.MaxLeaseOptionLength }
        || request.Options.Get(DhcpOptionCode.HostName) is { Length: > DhcpEngine.MaxLeaseOptionLength }
        || request.Options.Get(DhcpOptionCode.RelayAgentInformation) is { Length: > DhcpEngine.MaxLeaseOptionLength };
}
