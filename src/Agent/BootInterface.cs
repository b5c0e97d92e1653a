using System.Globalization;

namespace Kldload.Agent;

/// <summary>
/// Finds the boot NIC: the interface of the IPv4 default route in <c>/proc/net/route</c>, or on an
/// IPv6 boot the one of the IPv6 default route (learnt from the router advertisement) in <c>/proc/net/ipv6_route</c>.
/// </summary>
internal static class BootInterface
{
    /// <summary>The interface holding the default route in a <c>/proc/net/route</c> text, or null.</summary>
    public static string? DefaultRouteInterface(string procNetRoute)
    {
        ArgumentNullException.ThrowIfNull(procNetRoute);
        foreach (var line in procNetRoute.Split('\n').Skip(1))
        {
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 8 && f[1] == "00000000" && uint.TryParse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask) && mask == 0)
            {
                return f[0];
            }
        }

        return null;
    }

    /// <summary>
    /// The interface holding the IPv6 default route in a <c>/proc/net/ipv6_route</c> text, or null: a
    /// line whose destination is :: with prefix length 0 and a device other than <c>lo</c> (the kernel keeps
    /// an unreachable default on <c>lo</c>). Fields: destination, its length, source, its length, next hop,
    /// metric, use and reference counts, flags, device.
    /// </summary>
    public static string? DefaultRouteInterface6(string procNetIpv6Route)
    {
        ArgumentNullException.ThrowIfNull(procNetIpv6Route);
        foreach (var line in procNetIpv6Route.Split('\n'))
        {
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 10 && f[0] == "00000000000000000000000000000000" && f[1] == "00" && f[9] != "lo")
            {
                return f[9];
            }
        }

        return null;
    }
}
