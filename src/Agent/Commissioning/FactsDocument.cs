using System.Globalization;
using System.Text.Json;
using Kldload.Facts;

namespace Kldload.Agent.Commissioning;

/// <summary>The facts as the node sends them: serialized (source-generated), checked against kldload's bounds, canonical.</summary>
internal static class FactsDocument
{
    /// <summary>RFC 8785 canonical UTF-8 of the facts; throws <see cref="FactsRefusedException"/> when kldload would refuse them.</summary>
    public static byte[] Canonical(NodeFacts facts)
    {
        var utf8 = JsonSerializer.SerializeToUtf8Bytes(facts, FactsJsonContext.Default.NodeFacts);
        using var document = JsonDocument.Parse(utf8);
        return FactsLimits.CheckAndCanonicalize(document.RootElement);
    }

    /// <summary>One console line: system serial, CPU, memory, disks, GPUs.</summary>
    public static string Summary(NodeFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var parts = new List<string>();
        if (facts.System?.Serial is { } serial)
        {
            parts.Add("serial " + serial);
        }

        if (facts.Cpu is { } cpu)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{cpu.Threads} threads ({cpu.Model ?? "unknown CPU"})"));
        }

        if (facts.Memory is { } memory)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{memory.TotalGiB} GiB"));
        }

        parts.Add(string.Create(CultureInfo.InvariantCulture, $"{facts.Disks?.Count ?? 0} disks"));
        if (facts.Gpus is { Count: > 0 } gpus)
        {
            parts.Add("GPUs " + string.Join(',', gpus.Select(g => g.Vendor)));
        }

        return string.Join(", ", parts);
    }
}
