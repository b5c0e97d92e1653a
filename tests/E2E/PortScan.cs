using System.Xml.Linq;

namespace Kldload.E2E.Tests;

/// <summary>
/// One <c>nmap</c> scan's ports read from its XML report (<c>-oX -</c>): every port listed one by one,
/// and the ports nmap folded into <c>extraports</c> counted by state, so a state that covers many ports
/// is not missed.
/// </summary>
internal sealed record PortScan(IReadOnlyList<PortScan.Port> Ports, IReadOnlyDictionary<string, int> Folded, string Report)
{
    /// <summary>A port nmap reported on its own.</summary>
    public sealed record Port(string Protocol, int Number, string State, string Reason);

    /// <summary>Ports in an open state (<c>open</c> or <c>open|filtered</c>), listed or folded.</summary>
    public int OpenCount => Ports.Count(p => IsOpen(p.State)) + Folded.Where(f => IsOpen(f.Key)).Sum(f => f.Value);

    public IEnumerable<Port> Open => Ports.Where(p => IsOpen(p.State));

    private static bool IsOpen(string state) => state.StartsWith("open", StringComparison.Ordinal);

    public static PortScan Parse(string xml)
    {
        var doc = XDocument.Parse(xml);
        var ports = doc.Descendants("port").Select(p => new Port(
            (string)p.Attribute("protocol")!,
            (int)p.Attribute("portid")!,
            (string)p.Element("state")!.Attribute("state")!,
            (string?)p.Element("state")!.Attribute("reason") ?? string.Empty)).ToList();
        var folded = doc.Descendants("extraports")
            .GroupBy(e => (string)e.Attribute("state")!)
            .ToDictionary(g => g.Key, g => g.Sum(e => (int)e.Attribute("count")!));
        return new PortScan(ports, folded, xml);
    }

    public override string ToString() =>
        string.Join(", ", Ports.Select(p => $"{p.Number}/{p.Protocol} {p.State} ({p.Reason})").Concat(Folded.Select(f => $"{f.Value} more {f.Key}")));
}
