namespace Kldload.Provisioner.Boot;

/// <summary>An image resolved for one boot: what the iPXE script loads, by digest.</summary>
public sealed record BootImage(
    string Name,
    string Version,
    string KernelDigest,
    string InitrdDigest,
    string? RootfsDigest,
    string? CommandLine,
    string? KernelAuthenticodeDigest);

/// <summary>Resolves channels and pinned versions to bootable images (the image store implements it).</summary>
public interface IBootImageSource
{
    /// <summary>The image a channel points at now, or null when the channel is unknown or empty.</summary>
    BootImage? ResolveChannel(string channel);

    /// <summary>A specific image version, or null when it is not in the store.</summary>
    BootImage? Resolve(string name, string version);
}
