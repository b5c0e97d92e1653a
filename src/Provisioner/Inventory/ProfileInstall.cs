using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// A profile's <c>install</c> block (issue 20): <c>{ "target": "zfs-root", "disks": ["/dev/vda", ...] }</c> or
/// <c>"disks": "auto"</c>. The agent in the live image installs the image to these disks; the request
/// reaches it in the answer to ready, over the attested mesh (docs/install.md).
/// </summary>
public sealed class ProfileInstall
{
    /// <summary>The one target there is: ZFS on root, a pool of the disks with boot environments.</summary>
    public const string ZfsRoot = "zfs-root";

    /// <summary>The targets a profile may name.</summary>
    public static readonly IReadOnlyList<string> Targets = [ZfsRoot];

    /// <summary>What to install; only <see cref="ZfsRoot"/>.</summary>
    public string? Target { get; set; }

    /// <summary>The disks to wipe: a list of paths, or <c>"auto"</c> (every non-removable, writable disk).</summary>
    public InstallDisks? Disks { get; set; }

    /// <summary>
    /// Every problem of the block at once (empty when it is valid): an unknown target, no disks, a
    /// disk named twice, a name that is neither <c>/dev/NAME</c> nor <c>/dev/disk/by-id/ID</c>.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Target is null || !Targets.Contains(Target, StringComparer.Ordinal))
        {
            errors.Add($"install.target '{Target}': allowed: {string.Join(", ", Targets)}");
        }

        if (Disks is null || (Disks.Keyword is null && Disks.Paths.Count == 0))
        {
            errors.Add("install.disks: name at least one disk, or \"auto\" (every non-removable, writable disk)");
            return errors;
        }

        if (Disks.Keyword is { } keyword && keyword != InstallDisks.Auto)
        {
            errors.Add($"install.disks '{keyword}': a list of disks or \"auto\"");
        }

        foreach (var path in Disks.Paths.Where(p => !IsDiskPath(p)))
        {
            errors.Add($"install.disks '{path}': not a whole-disk path: use /dev/NAME (/dev/vda, /dev/nvme0n1) or /dev/disk/by-id/ID");
        }

        foreach (var twice in Disks.Paths.GroupBy(p => p, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"install.disks '{twice.Key}': named {twice.Count()} times");
        }

        return errors;
    }

    /// <summary>
    /// <c>/dev/NAME</c> (a lowercase letter, then lowercase letters and digits: a kernel block device
    /// name, no subdirectory) or <c>/dev/disk/by-id/ID</c> (udev's stable name: letters, digits,
    /// <c>._:+-</c>), but never a partition's by-id link (<c>-partN</c>).
    /// </summary>
    public static bool IsDiskPath(string? path)
    {
        const string ById = "/dev/disk/by-id/";
        if (path is null || path.Length > 255)
        {
            return false;
        }

        if (path.StartsWith(ById, StringComparison.Ordinal))
        {
            var id = path[ById.Length..];
            var part = id.LastIndexOf("-part", StringComparison.Ordinal);
            var isPartition = part >= 0 && id.Length > part + 5 && id[(part + 5)..].All(char.IsAsciiDigit);
            return id.Length > 0 && id[0] != '.' && !isPartition && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '+' or '-');
        }

        if (!path.StartsWith("/dev/", StringComparison.Ordinal))
        {
            return false;
        }

        var name = path["/dev/".Length..];
        return name.Length > 0 && char.IsAsciiLetterLower(name[0]) && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));
    }
}

/// <summary>
/// <c>install.disks</c>: a JSON array of paths, or a string (<c>"auto"</c>; any other string is kept
/// so that validation can name it instead of failing the whole body).
/// </summary>
[JsonConverter(typeof(InstallDisksJsonConverter))]
public sealed class InstallDisks
{
    /// <summary>Every non-removable, writable disk the agent finds (not loop, ram or zram).</summary>
    public const string Auto = "auto";

    /// <summary>The string form (<c>"auto"</c>); null for a list.</summary>
    public string? Keyword { get; set; }

    /// <summary>The listed disks, in the order given (the first is the first vdev's first member).</summary>
    public List<string> Paths { get; set; } = [];

    /// <summary>True for <c>"auto"</c>.</summary>
    [JsonIgnore]
    public bool IsAuto => Keyword == Auto;
}

/// <summary>Reads and writes <see cref="InstallDisks"/> as a string or an array of strings.</summary>
public sealed class InstallDisksJsonConverter : JsonConverter<InstallDisks>
{
    public override InstallDisks Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return new InstallDisks { Keyword = reader.GetString() };
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("install.disks: a list of disk paths or \"auto\"");
        }

        var disks = new InstallDisks();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            disks.Paths.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException("install.disks: each disk is a string"));
        }

        return disks;
    }

    public override void Write(Utf8JsonWriter writer, InstallDisks value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        if (value.Keyword is { } keyword)
        {
            writer.WriteStringValue(keyword);
            return;
        }

        writer.WriteStartArray();
        foreach (var path in value.Paths)
        {
            writer.WriteStringValue(path);
        }

        writer.WriteEndArray();
    }
}
