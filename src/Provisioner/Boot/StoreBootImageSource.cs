using Kldload.ImageStore;

namespace Kldload.Provisioner.Boot;

/// <summary>Boot planning over the image store: a channel or a version resolves to blobs by digest.</summary>
public sealed class StoreBootImageSource(LiveImageStore store) : IBootImageSource
{
    public BootImage? ResolveChannel(string channel) =>
        ImageKey.IsValidPart(channel) ? From(store.Catalog.Resolve(channel)) : null;

    public BootImage? Resolve(string name, string version) =>
        ImageKey.Validate(name, version) is null ? From(store.Catalog.Get(new ImageKey(name, version))) : null;

    private static BootImage? From(ImageManifest? m) => m is null
        ? null
        : new BootImage(m.Name, m.Version, m.Kernel.ToString(), m.Initrd.ToString(), m.Rootfs?.ToString(),
            string.IsNullOrWhiteSpace(m.CommandLine) ? null : m.CommandLine, m.KernelAuthenticode?.ToString());
}
