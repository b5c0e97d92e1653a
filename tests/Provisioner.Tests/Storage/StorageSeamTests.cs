using System.Text.RegularExpressions;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// The storage seam of issue 17: components take store interfaces; LiteDB appears only in the
/// <c>LiteDb*</c> stores, the host's <c>Storage/</c> folder and the few places listed here with their
/// reason, and no domain type carries a LiteDB attribute.
/// </summary>
public sealed partial class StorageSeamTests
{
    /// <summary>Files that may name LiteDB although they are no <c>LiteDb*</c> store, and why.</summary>
    private static readonly Dictionary<string, string> Allowed = new(StringComparer.Ordinal)
    {
        ["src/Provisioner/Backup/BackupWriter.cs"] = "the backup format of kldload.db: its collections as BSON",
        ["src/Provisioner/Backup/BackupRestorer.cs"] = "writes those collections back into a new kldload.db",
        ["src/Provisioner/Cli/BackupCommands.cs"] = "an offline backup opens kldload.db as the server would",
        ["src/Provisioner/Cli/ImageCommands.cs"] = "an offline image command opens the embedded database as the server would",
        ["src/Provisioner/Cli/KitCommands.cs"] = "names LiteDB's exception when an offline kit import opens the embedded database through ImageCommands",
        ["src/Provisioner/Listeners/DhcpListener.cs"] = "names LiteDB's exception when the embedded lease store cannot open",
    };

    private static IEnumerable<(string Relative, string Text)> SourceFiles()
    {
        var src = Path.Combine(RepositoryPaths.Root, "src");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(RepositoryPaths.Root, file).Replace('\\', '/');
            if (relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal))
            {
                continue;
            }

            yield return (relative, File.ReadAllText(file));
        }
    }

    [GeneratedRegex(@"^\s*using LiteDB;|\bLiteDB\.[A-Z]\w*", RegexOptions.Multiline)]
    private static partial Regex UsesLiteDb();

    [GeneratedRegex(@"\[Bson(Id|Ignore|Field|Ctor|Ref)\b")]
    private static partial Regex LiteDbAttribute();

    [Fact]
    public void LiteDb_IsNamedOnlyByItsStoresTheStorageFolderAndTheListedFiles()
    {
        var offenders = SourceFiles()
            .Where(f => UsesLiteDb().IsMatch(StripComments(f.Text)))
            .Select(f => f.Relative)
            .Where(r => !Path.GetFileName(r).StartsWith("LiteDb", StringComparison.Ordinal))
            .Where(r => !r.StartsWith("src/Provisioner/Storage/", StringComparison.Ordinal))
            .Where(r => !Allowed.ContainsKey(r))
            .ToList();
        Assert.True(offenders.Count == 0, "LiteDB used outside the storage layer: " + string.Join(", ", offenders));

        // The list stays honest: every allowed file still needs its exception.
        var users = SourceFiles().Where(f => UsesLiteDb().IsMatch(StripComments(f.Text))).Select(f => f.Relative).ToHashSet();
        Assert.All(Allowed.Keys, k => Assert.Contains(k, users));
    }

    [Fact]
    public void DomainTypes_CarryNoLiteDbAttributes()
    {
        var offenders = SourceFiles().Where(f => LiteDbAttribute().IsMatch(f.Text)).Select(f => f.Relative).ToList();
        Assert.True(offenders.Count == 0, "LiteDB attributes on types: " + string.Join(", ", offenders));
    }

    [Fact]
    public void EveryStoreInterface_HasALiteDbAndAPostgresImplementation()
    {
        var host = typeof(Kldload.Provisioner.Hosting.KldloadHost).Assembly;
        var assemblies = new[] { host, typeof(Kldload.Dhcp.Server.ILeaseStore).Assembly, typeof(Kldload.ImageStore.IImageCatalogStore).Assembly, typeof(Kldload.MeshCA.Addressing.IMeshAddressStore).Assembly };
        var interfaces = new[]
        {
            typeof(Kldload.Provisioner.Inventory.INodeStore), typeof(Kldload.Provisioner.Inventory.IProfileStore), typeof(Kldload.Provisioner.Inventory.IHardwareFactsStore),
            typeof(Kldload.Provisioner.Boot.IBootTokenStore), typeof(Kldload.Provisioner.Api.IOperatorTokenStore), typeof(Kldload.Provisioner.Attestation.IAttestationSessionStore),
            typeof(Kldload.Provisioner.Attestation.IRevokedEkStore), typeof(Kldload.Provisioner.Power.IBmcStore), typeof(Kldload.Provisioner.Power.IRolloutStore),
            typeof(Kldload.ImageStore.IImageCatalogStore), typeof(Kldload.MeshCA.Addressing.IMeshAddressStore), typeof(Kldload.MeshCA.Distribution.IMeshRosterStore),
            typeof(Kldload.Dhcp.Server.ILeaseStore), typeof(Kldload.Dhcp.Dhcp6.Server.IDhcp6LeaseStore),
        };
        var types = assemblies.SelectMany(a => a.GetTypes()).Where(t => t is { IsClass: true, IsAbstract: false }).ToList();
        foreach (var contract in interfaces)
        {
            var implementations = types.Where(contract.IsAssignableFrom).Select(t => t.Name).ToList();
            Assert.True(implementations.Any(n => n.StartsWith("Postgres", StringComparison.Ordinal)), $"{contract.Name} has no PostgreSQL store: {string.Join(", ", implementations)}");
            Assert.True(implementations.Any(n => n.StartsWith("LiteDb", StringComparison.Ordinal) || n.Contains("Journal", StringComparison.Ordinal)), $"{contract.Name} has no embedded store: {string.Join(", ", implementations)}");
        }
    }

    private static string StripComments(string text) => Regex.Replace(text, @"^\s*///?.*$", string.Empty, RegexOptions.Multiline);
}
