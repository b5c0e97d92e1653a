using System.Globalization;
using System.Text.Json;

namespace Kldload.Provisioner.Inventory;

/// <summary>One difference between two boots' facts: the part (disk, memory, cpu, nic, gpu, system, firmware, tpm) and a sentence.</summary>
public sealed record HardwareDifference(string Part, string Message);

/// <summary>
/// What changed between two facts objects (schema 1, see the README's Commissioning section), as
/// sentences an operator reads: "disk serial S2X… missing", "memory 64 → 48 GiB". A pure function:
/// parts are compared by identity (disks by serial, NICs by MAC, GPUs by PCI address), not by order.
/// </summary>
public static class HardwareChanges
{
    public static IReadOnlyList<HardwareDifference> Compare(JsonElement before, JsonElement after)
    {
        var changes = new List<HardwareDifference>();
        void Value(string part, string label, string path)
        {
            var a = Text(before, path);
            var b = Text(after, path);
            if (a is not null && !string.Equals(a, b, StringComparison.Ordinal))
            {
                changes.Add(new HardwareDifference(part, $"{label} {a} → {b ?? "gone"}"));
            }
        }

        Value("system", "system serial", "system.serial");
        Value("system", "system UUID", "system.uuid");
        Value("system", "baseboard serial", "baseboard.serial");
        Value("firmware", "BIOS version", "bios.version");
        Value("firmware", "firmware mode", "firmware.mode");
        Value("firmware", "Secure Boot", "firmware.secureBoot");
        Value("cpu", "CPU", "cpu.model");
        Value("cpu", "CPU sockets", "cpu.sockets");
        Value("cpu", "CPU threads", "cpu.threads");
        Value("tpm", "TPM firmware", "tpm.firmwareVersion");
        if (Text(before, "memory.totalGiB") is { } m1 && Text(after, "memory.totalGiB") is var m2 && m1 != m2)
        {
            changes.Add(new HardwareDifference("memory", $"memory {m1} → {m2 ?? "unknown"} GiB"));
        }

        Keyed(changes, "disk", before, after, "disks", d => Text(d, "serial") is { } s ? "serial " + s : Text(d, "name") is { } n ? n : null, Describe);
        Keyed(changes, "nic", before, after, "nics", n => Text(n, "mac"), n => Text(n, "driver") ?? string.Empty);
        Keyed(changes, "gpu", before, after, "gpus", g => Text(g, "pciAddress") is { } a ? $"{Text(g, "vendor")} {Text(g, "deviceId")} at {a}" : null, _ => string.Empty);
        return changes;
    }

    private static string Describe(JsonElement disk)
    {
        var model = Text(disk, "model");
        var size = disk.TryGetProperty("sizeBytes", out var s) && s.TryGetInt64(out var bytes) ? $"{bytes / 1e9:0.#} GB" : null;
        return string.Join(", ", new[] { model, size }.Where(x => x is not null));
    }

    private static void Keyed(List<HardwareDifference> changes, string part, JsonElement before, JsonElement after, string list,
        Func<JsonElement, string?> key, Func<JsonElement, string> describe)
    {
        var a = Items(before, list, key);
        var b = Items(after, list, key);
        foreach (var (k, item) in a.Where(kv => !b.ContainsKey(kv.Key)))
        {
            changes.Add(new HardwareDifference(part, $"{part} {k} missing{Detail(describe(item))}"));
        }

        foreach (var (k, item) in b.Where(kv => !a.ContainsKey(kv.Key)))
        {
            changes.Add(new HardwareDifference(part, $"{part} {k} added{Detail(describe(item))}"));
        }
    }

    private static string Detail(string d) => d.Length == 0 ? string.Empty : $" ({d})";

    private static SortedDictionary<string, JsonElement> Items(JsonElement facts, string list, Func<JsonElement, string?> key)
    {
        var result = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);
        if (facts.ValueKind == JsonValueKind.Object && facts.TryGetProperty(list, out var items) && items.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in items.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Object && key(item) is { } k)
                {
                    result.TryAdd(k, item);
                }
            }
        }

        return result;
    }

    /// <summary>A scalar at a dotted path as text (numbers as written, booleans as true/false), or null.</summary>
    public static string? Text(JsonElement facts, string path)
    {
        var at = facts;
        foreach (var name in path.Split('.'))
        {
            if (at.ValueKind != JsonValueKind.Object || !at.TryGetProperty(name, out at))
            {
                return null;
            }
        }

        return at.ValueKind switch
        {
            JsonValueKind.String => at.GetString(),
            JsonValueKind.Number => at.TryGetDouble(out var d) ? d.ToString(CultureInfo.InvariantCulture) : at.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };
    }
}
