using System.Text;
using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Tests;

/// <summary>
/// The folders of <c>src/Provisioner</c> (folder = namespace) stand in layers: a folder uses only
/// folders in lower layers, so no two folders use each other, directly or round a circle, and
/// <c>Hosting/</c>, the composition root, is used by none. The order is drawn in README.md (Layout) and
/// docs/architecture.md; a new folder takes its place in <see cref="Layers"/> first.
/// </summary>
/// <remarks>
/// A use is a <c>using</c> directive, a name written <c>Kldload.Provisioner.X...</c>, or a name written
/// <c>X.Type</c> where <c>Type</c> is declared in folder <c>X</c> (resolved through the enclosing
/// <c>Kldload.Provisioner</c> namespace), in code or in a doc comment's <c>cref</c>. Unused usings
/// fail the build (IDE0005), so every using counted here is a real use.
/// </remarks>
public sealed partial class FolderLayersTests
{
    /// <summary>
    /// Lowest layer first; folders in one layer do not use each other. The files at the root
    /// (namespace <c>Kldload.Provisioner</c>: <c>LogEvents</c>, <c>BuildInfo</c>) sit below every layer and use no folder.
    /// </summary>
    internal static readonly string[][] Layers =
    [
        ["Settings", "Leases"],
        ["Storage"],
        ["Inventory"],
        ["Boot"],
        ["Listeners", "Power"],
        ["Attestation", "Mesh"],
        ["Api", "Backup", "Dashboard", "Kit"],
        ["Cli"],
        ["Hosting"],
    ];

    private static readonly string HostDirectory = Path.Combine(RepositoryPaths.Root, "src", "Provisioner");

    [Fact]
    public void Folders_UseOnlyLowerLayers()
    {
        var layerOf = LayerIndex();
        var violations = FolderUses.Scan(HostDirectory)
            .Where(u => u.To.Length > 0 && (u.From.Length == 0 || !(layerOf.TryGetValue(u.From, out var from) && layerOf.TryGetValue(u.To, out var to) && to < from)))
            .Select(u => $"{u.File}:{u.Line}: {Describe(u.From)} uses {Describe(u.To)} ({u.Evidence})")
            .ToList();

        Assert.True(violations.Count == 0,
            $"{violations.Count} use(s) of a folder in the same or a higher layer (order: {string.Join(" < ", Layers.Select(l => string.Join("/", l)))}):\n"
            + string.Join("\n", violations));

        string Describe(string folder) => folder.Length == 0 ? "the root (Kldload.Provisioner)" : layerOf.TryGetValue(folder, out var i) ? $"{folder}/ (layer {i})" : $"{folder}/ (in no layer)";
    }

    [Fact]
    public void Folders_FormNoCycle()
    {
        var uses = FolderUses.Scan(HostDirectory).Where(u => u.From.Length > 0 && u.To.Length > 0).ToList();
        var cycle = FolderUses.FindCycle(uses);
        Assert.True(cycle is null, cycle is null ? string.Empty : "folders use each other in a circle:\n" + string.Join("\n", cycle!.Select(u => $"{u.From} -> {u.To}: {u.File}:{u.Line} ({u.Evidence})")));
    }

    [Fact]
    public void Layers_NameEveryFolderOnce()
    {
        var folders = Directory.GetDirectories(HostDirectory).Select(d => Path.GetFileName(d)).Where(n => n is not ("bin" or "obj")).Order(StringComparer.Ordinal).ToList();
        var placed = Layers.SelectMany(l => l).ToList();
        Assert.Equal(placed.Count, placed.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(folders, placed.Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public void Files_DeclareTheNamespaceOfTheirFolder()
    {
        var wrong = new List<string>();
        foreach (var file in FolderUses.SourceFiles(HostDirectory))
        {
            var relative = Path.GetRelativePath(HostDirectory, file);
            var folder = Path.GetDirectoryName(relative)!;
            var expected = folder.Length == 0 ? "Kldload.Provisioner" : "Kldload.Provisioner." + folder.Replace(Path.DirectorySeparatorChar, '.');
            var declared = NamespaceDeclaration().Match(File.ReadAllText(file));
            // Program.cs holds the top-level statements, which have no namespace.
            if (declared.Success ? declared.Groups[1].Value != expected : Path.GetFileName(file) != "Program.cs")
            {
                wrong.Add($"{relative}: namespace {(declared.Success ? declared.Groups[1].Value : "(none)")}, expected {expected}");
            }
        }

        Assert.True(wrong.Count == 0, "folder and namespace differ:\n" + string.Join("\n", wrong));
    }

    /// <summary>
    /// Services are looked up only in the composition root: outside <c>Hosting/</c> a class asks for
    /// what it needs (constructor, endpoint parameter, filter) and an optional feature is a seam that
    /// is always registered. A registration factory (<c>AddSingleton(sp =&gt; ...)</c>) may resolve its
    /// dependencies from its <c>sp</c>.
    /// </summary>
    [Fact]
    public void ServiceLookups_OnlyInTheCompositionRoot()
    {
        var lookups = FolderUses.SourceFiles(HostDirectory)
            .Select(f => (File: Path.GetRelativePath(HostDirectory, f).Replace(Path.DirectorySeparatorChar, '/'), Code: FolderUses.CodeOnly(File.ReadAllText(f))))
            .Where(f => !f.File.StartsWith("Hosting/", StringComparison.Ordinal))
            .SelectMany(f => ServiceLookups(f.File, f.Code))
            .ToList();

        Assert.True(lookups.Count == 0, "service lookups outside Hosting/ (ask for the service instead, or register a seam):\n" + string.Join("\n", lookups));
    }

    [Fact]
    public void ServiceLookups_FindOptionalAndRuntimeLookups_NotRegistrationFactories()
    {
        const string Source = """
            services.AddSingleton(sp => new A(sp.GetRequiredService<B>(), sp.GetServices<C>()));
            if (http.RequestServices.GetService<BootStepRecorder>() is { } steps) { }
            var d = services.GetRequiredService<D>();
            var e = sp.GetService<E>();
            var f = provider.GetRequiredKeyedService<F>("f");
            """;

        var found = ServiceLookups("Api/Sample.cs", FolderUses.CodeOnly(Source));

        Assert.Equal(["Api/Sample.cs:2", "Api/Sample.cs:3", "Api/Sample.cs:4", "Api/Sample.cs:5"], found.Select(l => l[..l.IndexOf(' ', StringComparison.Ordinal)]).ToList());
    }

    /// <summary>
    /// Each call of <c>GetService</c>, <c>GetServices</c>, <c>GetRequiredService</c> or a keyed variant in
    /// <paramref name="code"/>, except a non-optional one on <c>sp</c>, a registration factory's provider.
    /// </summary>
    private static IEnumerable<string> ServiceLookups(string file, string code)
    {
        var lines = code.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            foreach (Match m in ServiceLookup().Matches(lines[i]))
            {
                var optional = m.Groups["method"].Value is "GetService" or "GetKeyedService";
                if (m.Groups["receiver"].Value != "sp" || optional)
                {
                    yield return $"{file}:{i + 1} {m.Value.Trim()}";
                }
            }
        }
    }

    [Fact]
    public void Scan_EveryKindOfUse_IsFound()
    {
        const string Source = """
            using Kldload.Provisioner.Storage;
            using static Kldload.Provisioner.Cli.ExitCodes;
            using Alias = Kldload.Provisioner.Api.AdminToken;

            namespace Kldload.Provisioner.Boot;

            /// <summary>Uses <see cref="Power.PowerService"/>; mentions Mesh.ControlChannelRegistry in prose only.</summary>
            public sealed class Sample
            {
                // Listeners.DhcpListener in a comment is not a use.
                private const string Text = "Kldload.Provisioner.Backup and Inventory.NodeRecord in a string";
                private readonly Kldload.Provisioner.Attestation.ReadyStep? _ready;
                private readonly Hosting.KldloadHost? _host;
                private readonly Settings.Unknown? _notAType;
                private object Mesh => config.Mesh.Enabled;
            }
            """;
        var declared = new Dictionary<string, HashSet<string>>
        {
            ["Power"] = ["PowerService"],
            ["Hosting"] = ["KldloadHost"],
            ["Mesh"] = ["ControlChannelRegistry"],
            ["Inventory"] = ["NodeRecord"],
            ["Listeners"] = ["DhcpListener"],
            ["Settings"] = ["KldloadSettings"],
        };
        string[] folders = ["Api", "Attestation", "Backup", "Boot", "Cli", "Hosting", "Inventory", "Listeners", "Mesh", "Power", "Settings", "Storage"];

        var uses = FolderUses.ScanText("Boot/Sample.cs", "Boot", Source, folders, declared);

        Assert.Equal(["Api", "Attestation", "Cli", "Hosting", "Power", "Storage"], uses.Select(u => u.To).Distinct().Order(StringComparer.Ordinal).ToList());
        Assert.Contains(uses, u => u.To == "Power" && u.Line == 7);
        Assert.Contains(uses, u => u.To == "Hosting" && u.Line == 13);
    }

    [Fact]
    public void FindCycle_ThreeFoldersInACircle_ReturnsTheCircle()
    {
        List<FolderUse> uses =
        [
            new("Listeners", "Boot", "Listeners/A.cs", 1, "x"),
            new("Boot", "Inventory", "Boot/B.cs", 2, "y"),
            new("Inventory", "Listeners", "Inventory/C.cs", 3, "z"),
            new("Api", "Boot", "Api/D.cs", 4, "w"),
        ];

        var cycle = FolderUses.FindCycle(uses);

        Assert.NotNull(cycle);
        Assert.Equal(["Boot", "Inventory", "Listeners"], cycle.Select(u => u.From).Order(StringComparer.Ordinal).ToList());
        Assert.Null(FolderUses.FindCycle(uses.Where(u => u.From != "Inventory").ToList()));
    }

    private static Dictionary<string, int> LayerIndex() =>
        Layers.SelectMany((layer, i) => layer.Select(folder => (folder, i))).ToDictionary(x => x.folder, x => x.i, StringComparer.Ordinal);

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)\s*[;{]", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"(?:(?<receiver>\w+)\s*\.\s*)?(?<method>GetService|GetServices|GetRequiredService|GetKeyedService|GetKeyedServices|GetRequiredKeyedService)\b\s*[<(]")]
    private static partial Regex ServiceLookup();
}

/// <summary>One use of folder <see cref="To"/> by a file of folder <see cref="From"/> (empty = the root).</summary>
internal sealed record FolderUse(string From, string To, string File, int Line, string Evidence);

/// <summary>Finds which folder of the host uses which, from the source text (see <see cref="FolderLayersTests"/>).</summary>
internal static partial class FolderUses
{
    public static IEnumerable<string> SourceFiles(string hostDirectory) =>
        Directory.EnumerateFiles(hostDirectory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(hostDirectory, f).Split(Path.DirectorySeparatorChar).Any(s => s is "bin" or "obj"))
            .Order(StringComparer.Ordinal);

    public static List<FolderUse> Scan(string hostDirectory)
    {
        var files = SourceFiles(hostDirectory)
            .Select(f => (Relative: Path.GetRelativePath(hostDirectory, f).Replace(Path.DirectorySeparatorChar, '/'), Code: CodeOnly(File.ReadAllText(f))))
            .Select(f => (f.Relative, Folder: f.Relative.Contains('/', StringComparison.Ordinal) ? f.Relative[..f.Relative.IndexOf('/', StringComparison.Ordinal)] : string.Empty, f.Code))
            .ToList();
        var folders = files.Select(f => f.Folder).Where(f => f.Length > 0).Distinct().ToList();
        var declared = files.Where(f => f.Folder.Length > 0).GroupBy(f => f.Folder)
            .ToDictionary(g => g.Key, g => g.SelectMany(f => TypeDeclaration().Matches(f.Code).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value)).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        return files.SelectMany(f => ScanCode(f.Relative, f.Folder, f.Code, folders, declared)).ToList();
    }

    /// <summary>The uses in one file's text (for tests of the scanner itself).</summary>
    public static List<FolderUse> ScanText(string file, string folder, string text, IReadOnlyList<string> folders, IReadOnlyDictionary<string, HashSet<string>> declared) =>
        ScanCode(file, folder, CodeOnly(text), folders, declared).ToList();

    /// <summary>A circle of uses between folders, or null.</summary>
    public static List<FolderUse>? FindCycle(IReadOnlyList<FolderUse> uses)
    {
        var next = uses.Where(u => u.From != u.To).GroupBy(u => u.From).ToDictionary(g => g.Key, g => g.GroupBy(u => u.To).Select(t => t.First()).ToList(), StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the path, 2 = done
        var path = new List<FolderUse>();

        foreach (var start in next.Keys.Order(StringComparer.Ordinal))
        {
            if (Visit(start) is { } cycle)
            {
                return cycle;
            }
        }

        return null;

        List<FolderUse>? Visit(string folder)
        {
            if (state.TryGetValue(folder, out var s))
            {
                return s == 1 ? path.GetRange(path.FindIndex(u => u.From == folder), path.Count - path.FindIndex(u => u.From == folder)) : null;
            }

            state[folder] = 1;
            foreach (var use in next.GetValueOrDefault(folder) ?? [])
            {
                path.Add(use);
                if (Visit(use.To) is { } cycle)
                {
                    return cycle;
                }

                path.RemoveAt(path.Count - 1);
            }

            state[folder] = 2;
            return null;
        }
    }

    private static IEnumerable<FolderUse> ScanCode(string file, string folder, string code, IReadOnlyList<string> folders, IReadOnlyDictionary<string, HashSet<string>> declared)
    {
        var lines = code.Split('\n');
        var qualified = new Regex(@"(?<![\w.:])(" + string.Join("|", folders.Select(Regex.Escape)) + @")\.(\w+)");
        for (var i = 0; i < lines.Length; i++)
        {
            var line = NamespaceDeclaration().Replace(lines[i], string.Empty);
            foreach (Match m in FullName().Matches(line))
            {
                if (m.Groups[1].Value != folder && folders.Contains(m.Groups[1].Value))
                {
                    yield return new FolderUse(folder, m.Groups[1].Value, file, i + 1, m.Value.Trim());
                }
            }

            foreach (Match m in qualified.Matches(line))
            {
                if (m.Groups[1].Value != folder && declared.TryGetValue(m.Groups[1].Value, out var types) && types.Contains(m.Groups[2].Value))
                {
                    yield return new FolderUse(folder, m.Groups[1].Value, file, i + 1, m.Value);
                }
            }
        }
    }

    /// <summary>
    /// The text with string and character literals emptied and comments blanked, except the
    /// <c>cref</c> values of doc comments (the compiler binds those); line breaks stay where they were.
    /// </summary>
    internal static string CodeOnly(string text)
    {
        var code = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '/' && At(i + 1) == '/')
            {
                var end = text.IndexOf('\n', i);
                end = end < 0 ? text.Length : end;
                var comment = text[i..end];
                var blank = new StringBuilder(new string(' ', comment.Length));
                if (comment.StartsWith("///", StringComparison.Ordinal))
                {
                    foreach (Match cref in Cref().Matches(comment))
                    {
                        blank.Remove(cref.Groups[1].Index, cref.Groups[1].Length).Insert(cref.Groups[1].Index, cref.Groups[1].Value);
                    }
                }

                code.Append(blank);
                i = end;
            }
            else if (c == '/' && At(i + 1) == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? text.Length : end + 2;
                code.Append(KeepLineBreaks(text[i..end]));
                i = end;
            }
            else if (c == '"' && At(i + 1) == '"' && At(i + 2) == '"')
            {
                var quotes = 0;
                while (At(i + quotes) == '"')
                {
                    quotes++;
                }

                var fence = new string('"', quotes);
                var end = text.IndexOf(fence, i + quotes, StringComparison.Ordinal);
                end = end < 0 ? text.Length : end + quotes;
                code.Append("\"\"").Append(KeepLineBreaks(text[(i + 2)..end]));
                i = end;
            }
            else if (c == '"' || c == '\'')
            {
                var verbatim = c == '"' && (At(i - 1) == '@' || (At(i - 1) == '$' && At(i - 2) == '@'));
                var end = i + 1;
                while (end < text.Length)
                {
                    if (text[end] == '\\' && !verbatim)
                    {
                        end += 2;
                    }
                    else if (text[end] == c && verbatim && At(end + 1) == c)
                    {
                        end += 2;
                    }
                    else if (text[end] == c || (text[end] == '\n' && !verbatim))
                    {
                        break;
                    }
                    else
                    {
                        end++;
                    }
                }

                end = Math.Min(end + 1, text.Length);
                code.Append(c).Append(c).Append(KeepLineBreaks(text[(i + 2 <= end ? i + 2 : end)..end]));
                i = end;
            }
            else
            {
                code.Append(c);
                i++;
            }
        }

        return code.ToString();

        char At(int index) => index >= 0 && index < text.Length ? text[index] : '\0';
    }

    private static string KeepLineBreaks(string text) => new(text.Select(ch => ch == '\n' ? '\n' : ' ').ToArray());

    [GeneratedRegex(@"(?<![\w.])(?:global::)?Kldload\.Provisioner\.(\w+)")]
    private static partial Regex FullName();

    [GeneratedRegex(@"^\s*namespace\s+[\w.]+")]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"\b(?:class|struct|interface|enum|record)\s+(\w+)|\bdelegate\s+[^;(=]*?\s(\w+)\s*[<(]")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex("cref=\"([^\"]*)\"")]
    private static partial Regex Cref();
}
