using System.Text;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The iPXE script templates under <c>ipxe/</c> (copied next to the binary). A template holds
/// <c>{{name}}</c> placeholders; rendering refuses unknown placeholders and values that could break
/// out of their line, so a node name or kernel argument can never inject iPXE commands.
/// </summary>
public sealed partial class IpxeTemplates
{
    private readonly Dictionary<string, string> _templates;

    private IpxeTemplates(Dictionary<string, string> templates) => _templates = templates;

    /// <summary>Template names kldload renders.</summary>
    public static readonly IReadOnlyList<string> Names = ["chain", "boot.pcbios", "boot.efi", "noimage"];

    /// <summary>Loads every template from a directory (default: <c>ipxe/</c> next to the binary).</summary>
    public static IpxeTemplates Load(string? directory = null)
    {
        directory ??= Path.Combine(AppContext.BaseDirectory, "ipxe");
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Names)
        {
            var path = Path.Combine(directory, name + ".ipxe");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"iPXE template {path} is missing", path);
            }

            templates[name] = File.ReadAllText(path, Encoding.UTF8);
        }

        return new IpxeTemplates(templates);
    }

    /// <summary>Renders a template with the given values.</summary>
    public string Render(string name, IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var template = _templates[name];
        foreach (var (key, value) in values)
        {
            if (value.Any(c => c is '\r' or '\n' || char.IsControl(c)))
            {
                throw new ArgumentException($"value of {{{{{key}}}}} contains a control character", nameof(values));
            }
        }

        return Placeholder().Replace(template, m =>
            values.TryGetValue(m.Groups[1].Value, out var v) ? v : throw new KeyNotFoundException($"template {name} uses {{{{{m.Groups[1].Value}}}}} which has no value"));
    }

    [GeneratedRegex(@"\{\{([a-z_]+)\}\}")]
    private static partial Regex Placeholder();
}
