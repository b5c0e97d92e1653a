using Kldload.MeshCA.Links;

namespace Kldload.Agent.Resident;

/// <summary>Locks the boot NIC down (<see cref="PublicNicFirewall"/>).</summary>
internal interface INicLock
{
    /// <summary>Installs (or replaces) the ruleset for <paramref name="nic"/>; throws <see cref="WireGuardLinkException"/> or <see cref="IOException"/> when it cannot.</summary>
    void Lock(string nic, int? wireGuardListenPort);
}

/// <summary><see cref="INicLock"/> with <c>nft -f -</c>: the table is replaced as a whole, atomically.</summary>
internal sealed class NftNicLock : INicLock
{
    public void Lock(string nic, int? wireGuardListenPort)
    {
        var (code, _, stderr) = SystemCommand.TryRun(null, "nft", ["-f", "-"], PublicNicFirewall.RenderNftables(nic, wireGuardListenPort));
        if (code != 0)
        {
            throw new IOException($"nft -f failed ({code}): {stderr.Trim()}");
        }
    }
}
