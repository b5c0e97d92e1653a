namespace Kldload.ImageStore;

/// <summary>An image's identity: its name and version, written <c>name/version</c>.</summary>
public sealed record ImageKey(string Name, string Version)
{
    public override string ToString() => $"{Name}/{Version}";

    /// <summary>
    /// Names and versions are safe in URLs and file names: 1-64 letters, digits, '-', '_' or '.',
    /// not starting with '.'. The name <c>channels</c> is reserved for the channel routes.
    /// </summary>
    public static bool IsValidPart(string? part)
        => part is { Length: > 0 and <= 64 } && part[0] != '.' && part.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Checks both parts; the problem in one line, or null.</summary>
    public static string? Validate(string? name, string? version)
    {
        if (!IsValidPart(name))
        {
            return $"image name '{name}' is not valid (1-64 letters, digits, '-', '_', '.'; not starting with '.')";
        }

        if (name == ReservedName)
        {
            return $"image name '{ReservedName}' is reserved";
        }

        return IsValidPart(version) ? null : $"image version '{version}' is not valid (1-64 letters, digits, '-', '_', '.'; not starting with '.')";
    }

    /// <summary>The image name the URL space uses for channels.</summary>
    public const string ReservedName = "channels";
}

/// <summary>Which file of an image: the kernel, the initial ramdisk or the optional root file system.</summary>
public enum ImageFileKind : byte
{
    Kernel = 1,
    Initrd = 2,
    Rootfs = 3,
}

/// <summary>
/// A live image: immutable once imported (its blobs are content-addressed, so the bytes a node
/// boots are the bytes that were imported).
/// </summary>
public sealed record ImageManifest
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary>CPU architecture, as iPXE's <c>${buildarch}</c> spells it (x86_64, arm64, ...).</summary>
    public required string Architecture { get; init; }

    public required Sha256Digest Kernel { get; init; }

    public required long KernelSize { get; init; }

    public required Sha256Digest Initrd { get; init; }

    public required long InitrdSize { get; init; }

    public Sha256Digest? Rootfs { get; init; }

    public long? RootfsSize { get; init; }

    /// <summary>Kernel command line the boot script passes (boot token and such are appended by the provisioner).</summary>
    public string CommandLine { get; init; } = string.Empty;

    public required DateTimeOffset Created { get; init; }

    public string Notes { get; init; } = string.Empty;

    /// <summary>Authenticode SHA-256 of the kernel (what UEFI measures into PCR 4); null when the kernel is not a PE image.</summary>
    public Sha256Digest? KernelAuthenticode { get; init; }

    public ImageKey Key => new(Name, Version);

    /// <summary>Every blob the image needs.</summary>
    public IEnumerable<Sha256Digest> Blobs
    {
        get
        {
            yield return Kernel;
            yield return Initrd;
            if (Rootfs is { } r)
            {
                yield return r;
            }
        }
    }

    /// <summary>The digest of one file of the image, or null (a missing rootfs).</summary>
    public Sha256Digest? DigestOf(ImageFileKind kind) => kind switch
    {
        ImageFileKind.Kernel => Kernel,
        ImageFileKind.Initrd => Initrd,
        ImageFileKind.Rootfs => Rootfs,
        _ => null,
    };

    /// <summary>True when two manifests describe the same bytes and boot parameters (creation time aside).</summary>
    public bool SameContentAs(ImageManifest other)
        => other is not null && Name == other.Name && Version == other.Version && Architecture == other.Architecture
            && Kernel == other.Kernel && Initrd == other.Initrd && Rootfs == other.Rootfs && CommandLine == other.CommandLine;
}

/// <summary>A channel: a name pointing at one image version, with the versions it pointed at before.</summary>
public sealed record ChannelState
{
    public required string Name { get; init; }

    public required ImageKey Current { get; init; }

    /// <summary>Earlier versions, most recent first: what rollback returns to.</summary>
    public required IReadOnlyList<ImageKey> Previous { get; init; }

    public required string UpdatedBy { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>What happened to a channel.</summary>
public enum ChannelAction : byte
{
    Promote = 1,
    Rollback = 2,
}

/// <summary>One change of a channel pointer: who moved it, when, from where to where.</summary>
public sealed record ChannelEvent(string Channel, ChannelAction Action, ImageKey? From, ImageKey To, string By, DateTimeOffset At);

/// <summary>What happened to an image.</summary>
public enum ImageAction : byte
{
    Imported = 1,
    Deleted = 2,
}

/// <summary>One change of the image catalog: an import (with its source) or a deletion.</summary>
public sealed record ImageEvent(ImageKey Image, ImageAction Action, string By, DateTimeOffset At, string Source);

/// <summary>
/// Images that must keep their blobs although no channel points at them: profiles pinned to a
/// version, the image each node last booted. The provisioner implements it; garbage collection and
/// deletion consult every registered source.
/// </summary>
public interface IImageReferenceSource
{
    /// <summary>Shown when something is kept because of this source (for example "pinned profiles").</summary>
    string Description { get; }

    /// <summary>The images this source needs.</summary>
    IEnumerable<ImageKey> GetReferencedImages();
}
