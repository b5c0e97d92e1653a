using Kldload.ImageStore;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The Authenticode (SHA-256) digests of every EFI file kldload can serve as a loader: the
/// <c>*.efi</c> files under <c>Tftp:Root</c> (over TFTP, and over HTTP as <c>/tftp/NAME</c>), links
/// that leave the root excepted, since neither path serves them; and the signed shim and GRUB of
/// <c>Boot:Grub</c> (served as <c>shimx64.efi</c> and <c>grubx64.efi</c>). Firmware measures the loader it
/// starts into PCR 4 by this digest, so the application before the kernel must be one of these.
/// Digests are cached per file (size and modification time) and the directory is listed again at
/// most every 30 seconds.
/// </summary>
public sealed class ServedLoaders(TftpSettings settings, TimeProvider time, BootSettings? boot = null)
{
    private const int MaxFiles = 2_000;
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, (long Size, DateTime Modified, string? Digest)> _files = new(StringComparer.Ordinal);
    private HashSet<string> _digests = new(StringComparer.Ordinal);
    private DateTimeOffset _listedAt = DateTimeOffset.MinValue;

    /// <summary>The digests (lowercase hex) of the loaders under <c>Tftp:Root</c> now.</summary>
    public IReadOnlySet<string> Digests()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (now - _listedAt < Refresh)
            {
                return _digests;
            }

            _listedAt = now;
            _digests = List();
            return _digests;
        }
    }

    private HashSet<string> List()
    {
        var digests = new HashSet<string>(StringComparer.Ordinal);
        if (boot is not null)
        {
            foreach (var signed in new[] { boot.Grub.ShimX64, boot.Grub.GrubX64 }.Where(File.Exists))
            {
                if (Digest(Path.GetFullPath(signed)) is { } hex)
                {
                    digests.Add(hex);
                }
            }
        }

        if (!Directory.Exists(settings.Root))
        {
            return digests;
        }

        var root = Path.GetFullPath(settings.Root).TrimEnd('/') + "/";
        var options = new EnumerationOptions { RecurseSubdirectories = true, MatchCasing = MatchCasing.CaseInsensitive, IgnoreInaccessible = true, MaxRecursionDepth = 8 };
        foreach (var path in Directory.EnumerateFiles(settings.Root, "*.efi", options).Take(MaxFiles))
        {
            var info = new FileInfo(path);
            var real = info.LinkTarget is null ? info.FullName : info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (real is null || !real.StartsWith(root, StringComparison.Ordinal) || !File.Exists(real))
            {
                continue;
            }

            if (Digest(real) is { } hex)
            {
                digests.Add(hex);
            }
        }

        return digests;
    }

    /// <summary>The Authenticode digest of one file, cached by size and modification time; null when it is no PE image.</summary>
    private string? Digest(string real)
    {
        var target = new FileInfo(real);
        if (!_files.TryGetValue(real, out var known) || known.Size != target.Length || known.Modified != target.LastWriteTimeUtc)
        {
            var digest = PeAuthenticode.TryComputeSha256(real, out var d, out _) ? d!.ToString() : null;
            known = (target.Length, target.LastWriteTimeUtc, digest);
            _files[real] = known;
        }

        return known.Digest;
    }
}
