using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kldload.Provisioner.Kit;

/// <summary>
/// The air-gapped site kit: one uncompressed tar that carries everything a site with no network
/// needs to install or upgrade kldload.
/// <code>
/// kit.json        index: { "format": "kldload-kit/1", "kldloadVersion": "0.1.0", "commit": "...",
///                          "created": ISO-8601, "entries": [ { "kind", "path", "name", "size",
///                          "sha256", kind-specific fields } ] }
/// kit.sig         detached signature of the exact bytes of kit.json, shaped like an image bundle's
///                 bundle.sig: { "algorithm", "keyId", "signature" } (same keys, same trust directory)
/// package/NAME    the Debian package (kind "package")
/// loaders/N/NAME  a boot loader (kind "loader"; "target": "tftp" = under Tftp:Root as NAME,
///                 "shimx64"/"grubx64" = at Boot:Grub:ShimX64/GrubX64)
/// images/N.tar    one signed image bundle per image (kind "image-bundle"; "image": "name/version",
///                 "channels": the channels that pointed at it when exported)
/// ek-roots/NAME   a trusted EK root or intermediate (kind "ek-root")
/// </code>
/// kit.json and kit.sig come first, so a reader checks the signature before it stages a byte; the
/// index names every other entry by SHA-256 and size, so the signature covers every byte.
/// </summary>
public static class KitFormat
{
    public const string FormatName = "kldload-kit/1";
    public const string IndexEntry = "kit.json";
    public const string SignatureEntry = "kit.sig";

    /// <summary>The record of the last kit imported into a data directory: <c>{DataDir}/kit.json</c>.</summary>
    public const string InstalledRecordFile = "kit.json";

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>What a kit entry is; the text names appear in <c>kit.json</c>.</summary>
public enum KitEntryKind : byte
{
    Package = 1,
    Loader = 2,
    ImageBundle = 3,
    EkRoot = 4,
}

/// <summary>Text names of <see cref="KitEntryKind"/>.</summary>
public static class KitEntryKindNames
{
    public static string ToText(KitEntryKind kind) => kind switch
    {
        KitEntryKind.Package => "package",
        KitEntryKind.Loader => "loader",
        KitEntryKind.ImageBundle => "image-bundle",
        KitEntryKind.EkRoot => "ek-root",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static KitEntryKind? FromText(string? text) => text switch
    {
        "package" => KitEntryKind.Package,
        "loader" => KitEntryKind.Loader,
        "image-bundle" => KitEntryKind.ImageBundle,
        "ek-root" => KitEntryKind.EkRoot,
        _ => null,
    };
}

/// <summary>Where a loader entry goes on the importing site.</summary>
public static class KitLoaderTargets
{
    /// <summary>Under <c>Tftp:Root</c>, by the entry's name.</summary>
    public const string Tftp = "tftp";

    /// <summary>At <c>Boot:Grub:ShimX64</c>.</summary>
    public const string ShimX64 = "shimx64";

    /// <summary>At <c>Boot:Grub:GrubX64</c>.</summary>
    public const string GrubX64 = "grubx64";

    public static bool IsKnown(string? target) => target is Tftp or ShimX64 or GrubX64;
}

/// <summary>
/// One file of a kit. <see cref="Name"/> is where it goes (a file name; for a TFTP loader a relative
/// path under <c>Tftp:Root</c>); <see cref="Path"/> is its tar entry name.
/// </summary>
public sealed record KitEntry
{
    public required KitEntryKind Kind { get; init; }

    public required string Path { get; init; }

    public required string Name { get; init; }

    public required long Size { get; init; }

    /// <summary>Lowercase hex SHA-256 of the content.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Loaders: <see cref="KitLoaderTargets"/>.</summary>
    public string? Target { get; init; }

    /// <summary>Image bundles: the image's <c>name/version</c>.</summary>
    public string? Image { get; init; }

    /// <summary>Image bundles: the channels that pointed at the image when the kit was made.</summary>
    public IReadOnlyList<string> Channels { get; init; } = [];

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["kind"] = KitEntryKindNames.ToText(Kind),
            ["path"] = Path,
            ["name"] = Name,
            ["size"] = Size,
            ["sha256"] = Sha256,
        };
        if (Target is not null)
        {
            o["target"] = Target;
        }

        if (Image is not null)
        {
            o["image"] = Image;
            o["channels"] = new JsonArray(Channels.Select(c => (JsonNode)JsonValue.Create(c)).ToArray());
        }

        return o;
    }
}

/// <summary>The version of a kit: the kldload that made it, then when. Kits order by both, in that order.</summary>
public sealed record KitVersion(string KldloadVersion, DateTimeOffset Created) : IComparable<KitVersion>
{
    public int CompareTo(KitVersion? other)
    {
        if (other is null)
        {
            return 1;
        }

        var byVersion = CompareVersions(KldloadVersion, other.KldloadVersion);
        return byVersion != 0 ? byVersion : Created.CompareTo(other.Created);
    }

    public override string ToString() => $"{KldloadVersion} of {Created.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}";

    /// <summary>Numeric parts compared as numbers (0.10.0 &gt; 0.9.1); a pre-release (<c>-rc1</c>) sorts before its release.</summary>
    internal static int CompareVersions(string a, string b)
    {
        var (coreA, preA) = Split(a);
        var (coreB, preB) = Split(b);
        var partsA = coreA.Split('.');
        var partsB = coreB.Split('.');
        for (var i = 0; i < Math.Max(partsA.Length, partsB.Length); i++)
        {
            var pa = i < partsA.Length ? partsA[i] : "0";
            var pb = i < partsB.Length ? partsB[i] : "0";
            var c = long.TryParse(pa, NumberStyles.None, CultureInfo.InvariantCulture, out var na) && long.TryParse(pb, NumberStyles.None, CultureInfo.InvariantCulture, out var nb)
                ? na.CompareTo(nb)
                : string.CompareOrdinal(pa, pb);
            if (c != 0)
            {
                return c;
            }
        }

        return (preA, preB) switch
        {
            (null, null) => 0,
            (null, _) => 1,
            (_, null) => -1,
            _ => string.CompareOrdinal(preA, preB),
        };
    }

    private static (string Core, string? PreRelease) Split(string v)
    {
        var dash = v.IndexOf('-', StringComparison.Ordinal);
        return dash < 0 ? (v, null) : (v[..dash], v[(dash + 1)..]);
    }
}

/// <summary>A kit's index (<c>kit.json</c>).</summary>
public sealed record KitIndex(KitVersion Version, string Commit, IReadOnlyList<KitEntry> Entries)
{
    public JsonObject ToJson() => new()
    {
        ["format"] = KitFormat.FormatName,
        ["kldloadVersion"] = Version.KldloadVersion,
        ["commit"] = Commit,
        ["created"] = Version.Created.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        ["entries"] = new JsonArray(Entries.Select(e => (JsonNode)e.ToJson()).ToArray()),
    };

    /// <summary>
    /// Reads an index; throws <see cref="KitException"/> naming the first problem. Entry names and
    /// paths are checked here so that nothing a kit says can point outside where it is installed.
    /// </summary>
    public static KitIndex Parse(byte[] json)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new KitException($"{KitFormat.IndexEntry} is not valid JSON ({e.Message})", e);
        }

        if (root is not JsonObject o || Text(o, "format") != KitFormat.FormatName)
        {
            throw new KitException($"{KitFormat.IndexEntry} is not a {KitFormat.FormatName} index");
        }

        var version = Text(o, "kldloadVersion") ?? throw new KitException($"{KitFormat.IndexEntry} has no kldloadVersion");
        if (!DateTimeOffset.TryParse(Text(o, "created"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var created))
        {
            throw new KitException($"{KitFormat.IndexEntry} has no valid created time");
        }

        var entries = new List<KitEntry>();
        if (o["entries"] is not JsonArray list)
        {
            throw new KitException($"{KitFormat.IndexEntry} has no entries list");
        }

        foreach (var item in list)
        {
            var e = ReadEntry(item);
            if (entries.Any(x => x.Path == e.Path))
            {
                throw new KitException($"{KitFormat.IndexEntry} lists {e.Path} twice");
            }

            if (entries.Any(x => x.Kind == e.Kind && x.Name == e.Name && x.Target == e.Target))
            {
                throw new KitException($"{KitFormat.IndexEntry} lists two {KitEntryKindNames.ToText(e.Kind)} entries named {e.Name}");
            }

            // One package, one shim, one GRUB: each is installed at one fixed place.
            if ((e.Kind == KitEntryKind.Package && entries.Any(x => x.Kind == KitEntryKind.Package))
                || (e.Kind == KitEntryKind.Loader && e.Target != KitLoaderTargets.Tftp && entries.Any(x => x.Kind == KitEntryKind.Loader && x.Target == e.Target)))
            {
                throw new KitException($"{KitFormat.IndexEntry} lists two {(e.Kind == KitEntryKind.Package ? "packages" : e.Target + " loaders")}");
            }

            entries.Add(e);
        }

        return new KitIndex(new KitVersion(version, created), Text(o, "commit") ?? "unknown", entries);
    }

    private static KitEntry ReadEntry(JsonNode? item)
    {
        if (item is not JsonObject e)
        {
            throw new KitException($"{KitFormat.IndexEntry}: an entry is not an object");
        }

        var kind = KitEntryKindNames.FromText(Text(e, "kind")) ?? throw new KitException($"{KitFormat.IndexEntry}: entry kind '{Text(e, "kind")}' is not package, loader, image-bundle or ek-root");
        var path = Text(e, "path");
        var name = Text(e, "name");
        var sha = Text(e, "sha256");
        long size = -1;
        if (e["size"] is JsonValue sv && sv.TryGetValue(out long s))
        {
            size = s;
        }

        if (path is null || !IsSafeRelativePath(path) || path is KitFormat.IndexEntry or KitFormat.SignatureEntry)
        {
            throw new KitException($"{KitFormat.IndexEntry}: entry path '{path}' is not a safe relative path");
        }

        if (name is null || size < 0 || sha is null || sha.Length != 64 || !sha.All(char.IsAsciiHexDigitLower))
        {
            throw new KitException($"{KitFormat.IndexEntry}: entry {path} needs name, size and a lowercase hex sha256");
        }

        var target = Text(e, "target");
        var image = Text(e, "image");
        var channels = e["channels"] is JsonArray ca ? ca.Select(c => c?.GetValue<string>() ?? string.Empty).ToList() : [];
        var nameOk = kind switch
        {
            KitEntryKind.Loader when target == KitLoaderTargets.Tftp => IsSafeRelativePath(name),
            KitEntryKind.Loader => KitLoaderTargets.IsKnown(target) && IsPlainFileName(name),
            _ => IsPlainFileName(name),
        };
        if (!nameOk)
        {
            throw new KitException($"{KitFormat.IndexEntry}: entry {path}: name '{name}'{(kind == KitEntryKind.Loader ? $" or target '{target}'" : string.Empty)} not allowed");
        }

        if (kind == KitEntryKind.ImageBundle && (image is null || channels.Any(c => !Settings.BootSettings.IsValidName(c))))
        {
            throw new KitException($"{KitFormat.IndexEntry}: image bundle {path} needs an image and valid channel names");
        }

        return new KitEntry { Kind = kind, Path = path, Name = name, Size = size, Sha256 = sha, Target = target, Image = image, Channels = channels };
    }

    private static string? Text(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>A plain file name: no directory part, no control characters, not "." or "..".</summary>
    internal static bool IsPlainFileName(string name)
        => name.Length is > 0 and <= 255 && name is not "." and not ".." && !name.Contains('/', StringComparison.Ordinal) && !name.Contains('\\', StringComparison.Ordinal) && !name.Any(char.IsControl);

    /// <summary>Relative, '/'-separated, every segment a plain file name (so no "..", no absolute path).</summary>
    internal static bool IsSafeRelativePath(string path)
        => path.Length is > 0 and <= 1000 && !path.StartsWith('/') && path.Split('/').All(IsPlainFileName);
}

/// <summary>A kit was refused or could not be made; the message names what is wrong in one line.</summary>
public sealed class KitException(string message, Exception? inner = null) : Exception(message, inner);
