using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Kldload.Provisioner.Cli;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary>
/// <c>kldload kit export</c> and <c>kldload kit import</c> through the real command line (in process):
/// real files, real Ed25519 signatures, a site with images, loaders and EK roots exported into an
/// empty "air-gapped" data directory.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class KitCommandsTests : IDisposable
{
    private static readonly byte[] PackageMarker = Encoding.ASCII.GetBytes("KLDLOAD-TEST-DUMMY-PACKAGE");

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-kit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ExportImport_TwoChannels_ImagesChannelsLoadersEkRootsAndPackageArrive()
    {
        var site = await SiteAsync();
        var kit = Path.Combine(_dir, "site.kit");
        var export = await InProcessCli.RunAsync(["kit", "export", "-o", kit, "--channel", "stable", "--channel", "testing", "--sign", site.Key, "--package", site.Package, "-q", .. site.Args]);
        Assert.True(export.Code == 0, export.Stderr);

        var air = AirGap(site);
        var import = await InProcessCli.RunAsync(["kit", "import", kit, "-q", "--json", .. air.Args]);
        Assert.True(import.Code == 0, import.Stderr);
        using (var summary = JsonDocument.Parse(import.Stdout))
        {
            Assert.Equal(2, summary.RootElement.GetProperty("images").GetArrayLength());
            Assert.Equal(5, summary.RootElement.GetProperty("loaders").GetArrayLength()); // bios, efi x64 (also the HTTP one), arm64, shim, grub
            Assert.False(summary.RootElement.GetProperty("package").GetProperty("installed").GetBoolean());
            Assert.Contains(summary.RootElement.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("Attestation:EkRootsDir is not set", StringComparison.Ordinal));
        }

        // The image store sees both images and both channels, as `kldload image list` shows them.
        var list = await InProcessCli.RunAsync(["image", "list", "--json", .. air.Args]);
        Assert.True(list.Code == 0, list.Stderr);
        using (var doc = JsonDocument.Parse(list.Stdout))
        {
            Assert.Equal(["live/1", "live/2"], doc.RootElement.GetProperty("images").EnumerateArray().Select(i => $"{i.GetProperty("name").GetString()}/{i.GetProperty("version").GetString()}").Order(StringComparer.Ordinal));
            var channels = doc.RootElement.GetProperty("channels").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("current").GetString());
            Assert.Equal("live/1", channels["stable"]);
            Assert.Equal("live/2", channels["testing"]);
        }

        Assert.Equal(0, (await InProcessCli.RunAsync(["image", "verify", "-q", .. air.Args])).Code);
        foreach (var name in new[] { "undionly.kpxe", "snponly.efi", "ipxe-arm64.efi" })
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(site.Tftp, name)), await File.ReadAllBytesAsync(Path.Combine(air.Tftp, name)));
        }

        Assert.Equal(await File.ReadAllBytesAsync(site.Shim), await File.ReadAllBytesAsync(air.Shim));
        Assert.Equal(await File.ReadAllBytesAsync(site.Grub), await File.ReadAllBytesAsync(air.Grub));
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(site.EkRoots, "root.pem")), await File.ReadAllBytesAsync(Path.Combine(air.Data, "ek-roots", "root.pem")));
        Assert.Equal(await File.ReadAllBytesAsync(site.Package), await File.ReadAllBytesAsync(Path.Combine(air.Data, "packages", Path.GetFileName(site.Package))));
        Assert.True(File.Exists(Path.Combine(air.Data, "kit.json")));
        Assert.Empty(Directory.EnumerateDirectories(air.Data, ".kit-staging-*"));

        // The same kit again changes nothing and is accepted (not older).
        var again = await InProcessCli.RunAsync(["kit", "import", kit, "-q", .. air.Args]);
        Assert.True(again.Code == 0, again.Stderr);
        Assert.Contains("(already present)", again.Stdout, StringComparison.Ordinal);
        Assert.Contains("snponly.efi", again.Stdout, StringComparison.Ordinal);
        Assert.Contains("(unchanged)", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_SignedByUntrustedKey_RefusedAndNothingWritten()
    {
        var site = await SiteAsync();
        var stranger = Path.Combine(_dir, "keys", "stranger");
        Assert.Equal(0, (await InProcessCli.RunAsync(["image", "keygen", "-o", stranger])).Code);
        var kit = Path.Combine(_dir, "stranger.kit");
        var export = await InProcessCli.RunAsync(["kit", "export", "-o", kit, "--sign", stranger + ".key", "--package", site.Package, "-q", .. site.Args]);
        Assert.True(export.Code == 0, export.Stderr);

        var air = AirGap(site);
        var before = Snapshot(air.Root);
        var refused = await InProcessCli.RunAsync(["kit", "import", kit, "-q", .. air.Args]);
        Assert.Equal(ExitCodes.Failed, refused.Code);
        Assert.Contains("not among the 1 trusted keys", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("nothing imported", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(air.Root));

        // An explicit --trusted-keys directory holding the key accepts it.
        var trusted = Path.Combine(_dir, "trust-stranger");
        Directory.CreateDirectory(trusted);
        File.Copy(stranger + ".pub", Path.Combine(trusted, "stranger.pub"));
        var accepted = await InProcessCli.RunAsync(["kit", "import", kit, "-q", "--trusted-keys", trusted, .. air.Args]);
        Assert.True(accepted.Code == 0, accepted.Stderr);
    }

    [Fact]
    public async Task Import_TamperedEntryOrIndex_RefusedAndNothingWritten()
    {
        var site = await SiteAsync();
        var kit = Path.Combine(_dir, "site.kit");
        var export = await InProcessCli.RunAsync(["kit", "export", "-o", kit, "--sign", site.Key, "--package", site.Package, "-q", .. site.Args]);
        Assert.True(export.Code == 0, export.Stderr);
        var bytes = await File.ReadAllBytesAsync(kit);
        var air = AirGap(site);
        var before = Snapshot(air.Root);

        // One bit of the package's content.
        var entry = (byte[])bytes.Clone();
        entry[bytes.AsSpan().IndexOf(PackageMarker) + PackageMarker.Length + 100] ^= 0x01;
        var tampered = Path.Combine(_dir, "tampered-entry.kit");
        await File.WriteAllBytesAsync(tampered, entry);
        var refused = await InProcessCli.RunAsync(["kit", "import", tampered, "-q", .. air.Args]);
        Assert.Equal(ExitCodes.Failed, refused.Code);
        Assert.Contains("altered kit", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("nothing imported", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(air.Root));

        // One bit of the signed index (a digit of its created time).
        var index = (byte[])bytes.Clone();
        index[bytes.AsSpan().IndexOf("\"created\": \"20"u8) + 14] ^= 0x01;
        tampered = Path.Combine(_dir, "tampered-index.kit");
        await File.WriteAllBytesAsync(tampered, index);
        refused = await InProcessCli.RunAsync(["kit", "import", tampered, "-q", .. air.Args]);
        Assert.Equal(ExitCodes.Failed, refused.Code);
        Assert.Contains("signature does not verify", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(air.Root));
    }

    [Fact]
    public async Task Import_OlderKitAfterNewer_RefusedUnlessAllowDowngrade()
    {
        var site = await SiteAsync();
        var older = Path.Combine(_dir, "older.kit");
        var newer = Path.Combine(_dir, "newer.kit");
        Assert.Equal(0, (await InProcessCli.RunAsync(["kit", "export", "-o", older, "--channel", "stable", "--sign", site.Key, "-q", .. site.Args])).Code);
        Assert.Equal(0, (await InProcessCli.RunAsync(["kit", "export", "-o", newer, "--channel", "stable", "--channel", "testing", "--sign", site.Key, "-q", .. site.Args])).Code);

        var air = AirGap(site);
        var first = await InProcessCli.RunAsync(["kit", "import", newer, "-q", .. air.Args]);
        Assert.True(first.Code == 0, first.Stderr);
        var record = await File.ReadAllTextAsync(Path.Combine(air.Data, "kit.json"));

        var refused = await InProcessCli.RunAsync(["kit", "import", older, "-q", .. air.Args]);
        Assert.Equal(ExitCodes.Failed, refused.Code);
        Assert.Contains("is older than the installed kit", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("--allow-downgrade", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(record, await File.ReadAllTextAsync(Path.Combine(air.Data, "kit.json")));

        var allowed = await InProcessCli.RunAsync(["kit", "import", older, "-q", "--allow-downgrade", .. air.Args]);
        Assert.True(allowed.Code == 0, allowed.Stderr);
        Assert.NotEqual(record, await File.ReadAllTextAsync(Path.Combine(air.Data, "kit.json")));
    }

    [Fact]
    public async Task Export_UnknownChannel_FailsAndWritesNoFile()
    {
        var site = await SiteAsync();
        var kit = Path.Combine(_dir, "none.kit");
        var export = await InProcessCli.RunAsync(["kit", "export", "-o", kit, "--channel", "nightly", "--sign", site.Key, "-q", .. site.Args]);
        Assert.Equal(ExitCodes.Failed, export.Code);
        Assert.Contains("channel nightly does not exist", export.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir, "*none.kit*"));
    }

    [Fact]
    public async Task Import_ServerRunningOnDataDir_CatalogChangesGoThroughItsApi()
    {
        var site = await SiteAsync();
        var kit = Path.Combine(_dir, "site.kit");
        Assert.Equal(0, (await InProcessCli.RunAsync(["kit", "export", "-o", kit, "--channel", "testing", "--sign", site.Key, "-q", .. site.Args])).Code);

        var air = AirGap(site);
        var (server, url) = await KldloadProcess.ServeAsync(air.Data);
        await using (server)
        {
            var import = await InProcessCli.RunAsync(["kit", "import", kit, "-q", .. air.Args]);
            Assert.True(import.Code == 0, import.Stderr);
            using var http = new HttpClient { BaseAddress = url };
            http.DefaultRequestHeaders.Authorization = new("Bearer", (await File.ReadAllTextAsync(Path.Combine(air.Data, "admin.token"))).Trim());
            Assert.Contains("\"live\"", await http.GetStringAsync(new Uri("/api/v1/images", UriKind.Relative)), StringComparison.Ordinal);
            Assert.Contains("live", await http.GetStringAsync(new Uri("/api/v1/channels/testing", UriKind.Relative)), StringComparison.Ordinal);
        }
    }

    /// <summary>A site with two images on two channels, iPXE loaders, shim and GRUB files, an EK root, a signing key and a dummy package.</summary>
    private async Task<Site> SiteAsync()
    {
        var root = Path.Combine(_dir, "site");
        var data = Path.Combine(root, "var");
        var tftp = Path.Combine(root, "tftp");
        var ek = Path.Combine(root, "ek");
        Directory.CreateDirectory(tftp);
        Directory.CreateDirectory(ek);
        foreach (var name in new[] { "undionly.kpxe", "snponly.efi", "ipxe-arm64.efi" })
        {
            await File.WriteAllBytesAsync(Path.Combine(tftp, name), RandomNumberGenerator.GetBytes(3000));
        }

        var shim = Path.Combine(root, "shimx64.efi.signed");
        var grub = Path.Combine(root, "grubnetx64.efi.signed");
        await File.WriteAllBytesAsync(shim, RandomNumberGenerator.GetBytes(2000));
        await File.WriteAllBytesAsync(grub, RandomNumberGenerator.GetBytes(2500));
        using (var ca = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=Test EK Root", ca, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
            await File.WriteAllTextAsync(Path.Combine(ek, "root.pem"), cert.ExportCertificatePem());
        }

        var package = Path.Combine(root, "kldload_0.0.0-test_amd64.deb");
        await File.WriteAllBytesAsync(package, [.. PackageMarker, .. RandomNumberGenerator.GetBytes(4096)]);
        var key = Path.Combine(_dir, "keys", "release");
        Directory.CreateDirectory(Path.GetDirectoryName(key)!);
        if (!File.Exists(key + ".key"))
        {
            Assert.Equal(0, (await InProcessCli.RunAsync(["image", "keygen", "-o", key])).Code);
        }

        string[] args = [$"--Kldload:DataDir={data}", $"--Tftp:Root={tftp}", $"--Boot:Grub:ShimX64={shim}", $"--Boot:Grub:GrubX64={grub}", $"--Attestation:EkRootsDir={ek}"];
        foreach (var version in new[] { "1", "2" })
        {
            var src = Path.Combine(root, "src" + version);
            Directory.CreateDirectory(src);
            await File.WriteAllBytesAsync(Path.Combine(src, "vmlinuz"), RandomNumberGenerator.GetBytes(5000));
            await File.WriteAllBytesAsync(Path.Combine(src, "initrd.img"), RandomNumberGenerator.GetBytes(9000));
            var import = await InProcessCli.RunAsync(["image", "import", src, "--name", "live", "--version", version, "--channel", version == "1" ? "stable" : "testing", "-q", .. args]);
            Assert.True(import.Code == 0, import.Stderr);
        }

        return new Site(args, key + ".key", key + ".pub", package, tftp, shim, grub, ek);
    }

    /// <summary>An empty site that trusts the release key (in its default Images:TrustedKeysDir) and serves loaders from its own directories.</summary>
    private AirGapSite AirGap(Site site)
    {
        var root = Path.Combine(_dir, "air-" + Guid.NewGuid().ToString("N")[..8]);
        var data = Path.Combine(root, "var");
        var tftp = Path.Combine(root, "tftp");
        Directory.CreateDirectory(tftp);
        var trusted = Path.Combine(data, "images", "trusted-keys");
        Directory.CreateDirectory(trusted);
        File.Copy(site.PublicKey, Path.Combine(trusted, "release.pub"));
        var shim = Path.Combine(root, "boot", "shimx64.efi");
        var grub = Path.Combine(root, "boot", "grubx64.efi");
        return new AirGapSite([$"--Kldload:DataDir={data}", $"--Tftp:Root={tftp}", $"--Boot:Grub:ShimX64={shim}", $"--Boot:Grub:GrubX64={grub}"], root, data, tftp, shim, grub);
    }

    /// <summary>Every file under <paramref name="root"/> with its SHA-256, as one sorted text.</summary>
    private static string Snapshot(string root) => string.Join('\n', Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
        .Order(StringComparer.Ordinal)
        .Select(p => File.Exists(p) ? $"{Path.GetRelativePath(root, p)} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)))}" : Path.GetRelativePath(root, p) + "/"));

    private sealed record Site(string[] Args, string Key, string PublicKey, string Package, string Tftp, string Shim, string Grub, string EkRoots);

    private sealed record AirGapSite(string[] Args, string Root, string Data, string Tftp, string Shim, string Grub);
}
