namespace Kldload.Provisioner.Boot;

/// <summary>Used when no image store is wired in: every resolution finds nothing, so nodes get the "no image" script.</summary>
public sealed class UnavailableBootImageSource : IBootImageSource
{
    public BootImage? ResolveChannel(string channel) => null;

    public BootImage? Resolve(string name, string version) => null;
}
