using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kldload.ImageStore;

/// <summary>
/// JSON forms of manifests: the full manifest (in bundles and in <c>--json</c> output) and the
/// small manifest file an operator may put next to a kernel and initrd. Written and read by hand,
/// so nothing depends on reflection.
/// <code>
/// manifest.json (directory import, every key optional; flags win):
///   { "name": "debian-live", "version": "2026.11.1", "architecture": "x86_64",
///     "cmdline": "console=ttyS0 quiet", "notes": "built by CI run 1234" }
/// </code>
/// </summary>
public static class ManifestJson
{
    /// <summary>The full manifest as a JSON object.</summary>
    public static JsonObject Write(ImageManifest m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var o = new JsonObject
        {
            ["name"] = m.Name,
            ["version"] = m.Version,
            ["architecture"] = m.Architecture,
            ["kernel"] = m.Kernel.ToString(),
            ["kernelSize"] = m.KernelSize,
            ["initrd"] = m.Initrd.ToString(),
            ["initrdSize"] = m.InitrdSize,
        };
        if (m.Rootfs is { } r)
        {
            o["rootfs"] = r.ToString();
            o["rootfsSize"] = m.RootfsSize;
        }

        o["cmdline"] = m.CommandLine;
        o["created"] = m.Created.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
        o["notes"] = m.Notes;
        o["kernelAuthenticodeSha256"] = m.KernelAuthenticode?.ToString();
        return o;
    }

    /// <summary>Reads a full manifest; null with the first problem when anything is missing or malformed.</summary>
    public static ImageManifest? TryRead(JsonElement e, out string? error)
    {
        error = null;
        if (e.ValueKind != JsonValueKind.Object)
        {
            error = "manifest is not a JSON object";
            return null;
        }

        var name = Text(e, "name");
        var version = Text(e, "version");
        if (ImageKey.Validate(name, version) is { } bad)
        {
            error = bad;
            return null;
        }

        var where = $"manifest {name}/{version}";
        if (!TryDigest(e, "kernel", out var kernel) || !TryDigest(e, "initrd", out var initrd))
        {
            error = $"{where}: kernel and initrd must be 64 lowercase hex SHA-256 digests";
            return null;
        }

        Sha256Digest? rootfs = null;
        if (e.TryGetProperty("rootfs", out var rp) && rp.ValueKind != JsonValueKind.Null)
        {
            if (!TryDigest(e, "rootfs", out var r))
            {
                error = $"{where}: rootfs is not a SHA-256 digest";
                return null;
            }

            rootfs = r;
        }

        Sha256Digest? authenticode = null;
        if (e.TryGetProperty("kernelAuthenticodeSha256", out var ap) && ap.ValueKind != JsonValueKind.Null)
        {
            if (!TryDigest(e, "kernelAuthenticodeSha256", out var a))
            {
                error = $"{where}: kernelAuthenticodeSha256 is not a SHA-256 digest";
                return null;
            }

            authenticode = a;
        }

        if (!TrySize(e, "kernelSize", out var kernelSize) || !TrySize(e, "initrdSize", out var initrdSize))
        {
            error = $"{where}: kernelSize and initrdSize must be non-negative integers";
            return null;
        }

        long? rootfsSize = null;
        if (rootfs is not null)
        {
            if (!TrySize(e, "rootfsSize", out var rs))
            {
                error = $"{where}: rootfsSize must be a non-negative integer";
                return null;
            }

            rootfsSize = rs;
        }

        if (!DateTimeOffset.TryParse(Text(e, "created"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var created))
        {
            error = $"{where}: created is not an ISO 8601 time";
            return null;
        }

        var arch = Text(e, "architecture");
        if (!ImageKey.IsValidPart(arch))
        {
            error = $"{where}: architecture '{arch}' is not valid";
            return null;
        }

        return new ImageManifest
        {
            Name = name!,
            Version = version!,
            Architecture = arch!,
            Kernel = kernel,
            KernelSize = kernelSize,
            Initrd = initrd,
            InitrdSize = initrdSize,
            Rootfs = rootfs,
            RootfsSize = rootfsSize,
            CommandLine = Text(e, "cmdline") ?? string.Empty,
            Created = created,
            Notes = Text(e, "notes") ?? string.Empty,
            KernelAuthenticode = authenticode,
        };
    }

    /// <summary>The operator's manifest file in an import directory (every field optional).</summary>
    public sealed record DirectoryManifest(string? Name, string? Version, string? Architecture, string? CommandLine, string? Notes);

    /// <summary>Reads <c>manifest.json</c> of an import directory.</summary>
    public static DirectoryManifest ReadDirectoryManifest(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var e = doc.RootElement;
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new ImageImportException($"{path}: not a JSON object");
        }

        foreach (var p in e.EnumerateObject())
        {
            if (p.Name is not ("name" or "version" or "architecture" or "cmdline" or "notes"))
            {
                throw new ImageImportException($"{path}: unknown key '{p.Name}' (allowed: name, version, architecture, cmdline, notes)");
            }

            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw new ImageImportException($"{path}: '{p.Name}' must be a string");
            }
        }

        return new DirectoryManifest(Text(e, "name"), Text(e, "version"), Text(e, "architecture"), Text(e, "cmdline"), Text(e, "notes"));
    }

    private static string? Text(JsonElement e, string key)
        => e.TryGetProperty(key, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    private static bool TryDigest(JsonElement e, string key, out Sha256Digest digest)
    {
        digest = default;
        if (Sha256Digest.TryParse(Text(e, key), out var d))
        {
            digest = d.Value;
            return true;
        }

        return false;
    }

    private static bool TrySize(JsonElement e, string key, out long size)
    {
        size = 0;
        return e.TryGetProperty(key, out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt64(out size) && size >= 0;
    }
}
