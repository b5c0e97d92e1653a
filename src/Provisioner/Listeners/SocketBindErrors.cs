using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Why a listener could not bind, in an operator's words: the one translation of a bind's
/// <see cref="SocketException"/> that the HTTP, TFTP, DHCP and DHCPv6 listeners share. Each passes the
/// hints that fit its protocol (which other server may hold the port, which capabilities it needs).
/// </summary>
public static class SocketBindErrors
{
    public const string InUse = "the address is already in use";

    public const string Denied = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";

    /// <summary>
    /// The reason for <paramref name="e"/>, with the protocol's own wording where it has one. A listener
    /// bound to a device passes its <paramref name="iface"/>: when that interface is gone the reason says
    /// so, whatever error the kernel chose (.NET reports ENODEV from SO_BINDTODEVICE only as an unknown
    /// socket error, so the interface is looked up rather than the error number read).
    /// </summary>
    public static string Describe(SocketException e, string inUse = InUse, string denied = Denied, string? iface = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.SocketErrorCode switch
        {
            SocketError.AddressAlreadyInUse => inUse,
            SocketError.AccessDenied => denied,
            _ when iface is not null && !InterfaceExists(iface) => $"no such interface '{iface}'",
            SocketError.AddressNotAvailable => "the address is not on this host",
            _ => e.Message,
        };
    }

    /// <summary>True when the failure is the interface's or its address's rather than the port's.</summary>
    public static bool IsInterfaceProblem(SocketException e, string? iface = null) =>
        e is not null && (e.SocketErrorCode == SocketError.AddressNotAvailable || (iface is not null && !InterfaceExists(iface)));

    private static bool InterfaceExists(string name) => NetworkInterface.GetAllNetworkInterfaces().Any(n => n.Name == name);
}
