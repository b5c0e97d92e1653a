using System.Globalization;

namespace Kldload.Agent;

/// <summary>Finds the boot NIC: the interface of the IPv4 default route in <c>/proc/net/route</c>.</summary>
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
}
