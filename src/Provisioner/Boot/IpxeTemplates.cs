using System.Text;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The iPXE script templates under <c>ipxe/</c> (embedded in the binary, so a single-file publish
/// carries them). A template holds
/// <c>{{name}}</c> placeholders; rendering refuses unknown placeholders and values that could break
/// out of their line, so a node name or kernel argument can never inject iPXE commands.
/// </summary>
public sealed partial class IpxeTemplates
{
    private readonly Dictionary<string, string> _templates;

    private IpxeTemplates(Dictionary<string, string> templates) => _templates = templates;

    /// <summary>Template names kldload renders.</summary>
    public static readonly IReadOnlyList<string> Names = ["chain", "boot.pcbios", "boot.efi", "noimage"];

    /// <summary>
    /// Loads every template: from <paramref name="directory"/> when one is given (tests render the
    /// repository's files), otherwise from the copies embedded in the binary.
    /// </summary>
    public static IpxeTemplates Load(string? directory = null)
    {
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Names)
        {
            templates[name] = directory is null ? ReadEmbedded(name) : ReadFile(Path.Combine(directory, name + ".ipxe"));
        }

        return new IpxeTemplates(templates);
    }

    private static string ReadFile(string path) =>
        File.Exists(path) ? File.ReadAllText(path, Encoding.UTF8) : throw new FileNotFoundException($"iPXE template {path} is missing", path);

    private static string ReadEmbedded(string name)
    {
        var resource = $"Kldload.Provisioner.ipxe.{name}.ipxe";
        using var stream = typeof(IpxeTemplates).Assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException($"iPXE template {resource} is not embedded in the binary", resource);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
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
