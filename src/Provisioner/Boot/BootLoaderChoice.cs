using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// Which loader chain a booting MAC gets (<see cref="BootLoaderKind"/>): the <c>loader</c> of the profile
/// that matches the node recorded with that MAC, else <c>Boot:Loader</c>. A MAC kldload has never seen
/// matches no profile yet (profiles match recorded nodes), so it gets <c>Boot:Loader</c>.
/// </summary>
public sealed class BootLoaderChoice(INodeStore nodes, BootPlanner planner, BootSettings boot)
{
    /// <summary>The loader kind for <paramref name="hardwareAddress"/> (any MAC spelling).</summary>
    public BootLoaderKind For(string hardwareAddress)
    {
        if (NodeService.NormaliseMac(hardwareAddress) is { } mac && nodes.FindByMac(mac) is { } node && planner.MatchProfile(node)?.Loader is { } chosen)
        {
            return chosen;
        }

        return boot.Loader;
    }
}
