using System.Text.Json;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Hosting;

namespace Kldload.Provisioner.Tests.Kit;

/// <summary>
/// <c>kldload kit import --install-package --install-root DIR</c>: the kit's package goes through the
/// real <c>dpkg</c> into a root the test makes (never the host's), from a small package built with
/// <c>dpkg-deb</c> here; a root dpkg cannot use fails the import as partly applied, with no kit recorded.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class KitInstallPackageTests : IDisposable
{
    private const string PackageName = "kldload-kit-test";

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-kitdpkg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Import_InstallPackageIntoRoot_DpkgInstallsItThereAndTheSummarySaysSo()
    {
        var (kit, air) = await KitAsync();
        var root = DpkgRoot("root");

        var import = await CliAsync(["kit", "import", kit, "--install-package", "--install-root", root, "--json", "-q", .. AirSettings(air)]);
        Assert.True(import.Code == 0, import.Stderr);
        using (var summary = JsonDocument.Parse(import.Stdout))
        {
            var package = summary.RootElement.GetProperty("package");
            Assert.True(package.GetProperty("installed").GetBoolean());
            Assert.Equal(root, package.GetProperty("installRoot").GetString());
        }

        Assert.Equal("from the kit\n", await File.ReadAllTextAsync(Path.Combine(root, "usr", "share", PackageName, "marker")));
        var (code, status) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(30), "dpkg-query", $"--admindir={Path.Combine(root, "var", "lib", "dpkg")}", "-W", "-f=${Status} ${Version}", PackageName);
        Assert.True(code == 0, status);
        Assert.Equal("install ok installed 1.0-1", status.Trim());
        Assert.True(File.Exists(Path.Combine(air, "kit.json")));
    }

    [Fact]
    public async Task Import_InstallRootDpkgCannotUse_FailsAsPartlyAppliedAndRecordsNoKit()
    {
        var (kit, air) = await KitAsync();
        // A root whose dpkg database directory is a file: dpkg refuses it.
        var root = Directory.CreateDirectory(Path.Combine(_dir, "broken")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "var", "lib"));
        await File.WriteAllTextAsync(Path.Combine(root, "var", "lib", "dpkg"), "not a directory\n");

        var import = await CliAsync(["kit", "import", kit, "--install-package", "--install-root", root, "-q", .. AirSettings(air)]);

        Assert.Equal(ExitCodes.Failed, import.Code);
        Assert.Contains("dpkg --root", import.Stderr, StringComparison.Ordinal);
        Assert.Contains("partly applied", import.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(air, "kit.json")));
        Assert.False(Directory.Exists(Path.Combine(root, "usr")));
    }

    [Fact]
    public async Task Import_InstallRootWithoutInstallPackage_RefusedAsUsage()
    {
        var (kit, air) = await KitAsync();
        var import = await CliAsync(["kit", "import", kit, "--install-root", DpkgRoot("unused"), "-q", .. AirSettings(air)]);
        Assert.Equal(ExitCodes.BadSettings, import.Code);
        Assert.Contains("--install-root needs --install-package", import.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(air, "kit.json")));
    }

    /// <summary>A kit carrying a package built here with dpkg-deb, and an empty data directory that trusts its signer.</summary>
    private async Task<(string Kit, string AirData)> KitAsync()
    {
        var tree = Path.Combine(_dir, "pkg");
        Directory.CreateDirectory(Path.Combine(tree, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(tree, "usr", "share", PackageName));
        await File.WriteAllTextAsync(Path.Combine(tree, "DEBIAN", "control"),
            $"Package: {PackageName}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: kldload tests <tests@kldload.invalid>\nDescription: a package the kit tests install\n");
        await File.WriteAllTextAsync(Path.Combine(tree, "usr", "share", PackageName, "marker"), "from the kit\n");
        var deb = Path.Combine(_dir, $"{PackageName}_1.0-1_all.deb");
        var (code, output) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(60), "dpkg-deb", "--build", "--root-owner-group", tree, deb);
        Assert.True(code == 0, output);

        var key = Path.Combine(_dir, "release");
        Assert.Equal(0, (await CliAsync(["image", "keygen", "-o", key])).Code);
        var site = Path.Combine(_dir, "site");
        var kit = Path.Combine(_dir, "site.kit");
        var export = await CliAsync(["kit", "export", "-o", kit, "--sign", key + ".key", "--package", deb, "-q", $"--Kldload:DataDir={site}", $"--Tftp:Root={Directory.CreateDirectory(Path.Combine(_dir, "tftp")).FullName}", .. NoGrub("site")]);
        Assert.True(export.Code == 0, export.Stderr);

        var air = Path.Combine(_dir, "air");
        Directory.CreateDirectory(Path.Combine(air, "images", "trusted-keys"));
        File.Copy(key + ".pub", Path.Combine(air, "images", "trusted-keys", "release.pub"));
        return (kit, air);
    }

    /// <summary>An empty root with the dpkg database dpkg --root needs.</summary>
    private string DpkgRoot(string name)
    {
        var root = Path.Combine(_dir, name);
        var admin = Directory.CreateDirectory(Path.Combine(root, "var", "lib", "dpkg")).FullName;
        Directory.CreateDirectory(Path.Combine(admin, "info"));
        Directory.CreateDirectory(Path.Combine(admin, "updates"));
        File.WriteAllText(Path.Combine(admin, "status"), string.Empty);
        return root;
    }

    /// <summary>The air-gapped side's settings: its data directory, and loader paths in the test's directory, never the host's.</summary>
    private string[] AirSettings(string air) =>
        [$"--Kldload:DataDir={air}", $"--Tftp:Root={Directory.CreateDirectory(Path.Combine(_dir, "air-tftp")).FullName}", .. NoGrub("air-boot")];

    private string[] NoGrub(string name) =>
        [$"--Boot:Grub:ShimX64={Path.Combine(_dir, name, "shimx64.efi")}", $"--Boot:Grub:GrubX64={Path.Combine(_dir, name, "grubx64.efi")}"];

    private static async Task<(int Code, string Stdout, string Stderr)> CliAsync(string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await KldloadCli.RunAsync(args, KldloadHost.RunAsync, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
