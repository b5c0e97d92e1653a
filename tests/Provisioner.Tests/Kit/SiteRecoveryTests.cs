using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kldload.Age;
using Kldload.Provisioner.Tests.Attestation;
using Kldload.Tpm.Device;

namespace Kldload.Provisioner.Tests.Kit;

/// <summary>
/// "A USB stick and fresh hardware" (issue 23): site A is a real <c>kldload serve</c> with an image
/// and a swtpm node (its EK certificate from a manufacturer CA in <c>Attestation:EkRootsDir</c>) that
/// attests, is approved and reaches Ready. A site kit and a backup without image blobs go on the
/// "stick"; then, in a network namespace holding only loopback, a fresh data directory is restored,
/// the kit imported and <c>kldload serve</c> started, and the same TPM re-attests as the same node.
/// </summary>
[Trait("Tier", "Integration")]
public sealed partial class SiteRecoveryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-recovery-").FullName;
    private readonly string _ns = $"kldK{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";
    private readonly List<PeerProcess> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }

        try
        {
            NetworkLab.Ip("netns", "del", _ns);
        }
        catch (InvalidOperationException)
        {
            // Not created (the test failed before) or already gone.
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task KitAndBackup_FreshRootWithoutNetwork_SameTpmReattestsAsTheSameNode()
    {
        const string mac = "52:54:00:5e:00:01";
        var made = SwtpmManufacturer.Manufacture(Path.Combine(_dir, "tpm"));
        using var tpm = new SwtpmNode(Path.Combine(made, "state"));

        // Site A: a release key it trusts, two loaders, an image on stable, EK roots of the TPM's maker.
        var a = Path.Combine(_dir, "a");
        var aData = Path.Combine(a, "var");
        var aTftp = Directory.CreateDirectory(Path.Combine(a, "tftp")).FullName;
        var release = Path.Combine(_dir, "keys", "release");
        Directory.CreateDirectory(Path.GetDirectoryName(release)!);
        await MustAsync(KldloadProcess.RunAsync(_dir, "image", "keygen", "-o", release));
        Directory.CreateDirectory(Path.Combine(aData, "images", "trusted-keys"));
        File.Copy(release + ".pub", Path.Combine(aData, "images", "trusted-keys", "release.pub"));
        foreach (var loader in new[] { "undionly.kpxe", "snponly.efi" })
        {
            await File.WriteAllBytesAsync(Path.Combine(aTftp, loader), RandomNumberGenerator.GetBytes(4000));
        }

        var aEkRoots = SwtpmManufacturer.TrustDirectory(made);
        string[] aSettings = [$"--Kldload:DataDir={aData}", $"--Tftp:Root={aTftp}", $"--Attestation:EkRootsDir={aEkRoots}", .. NoGrub(a)];
        var siteA = Start(null, ["serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false", "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Approve", .. aSettings]);
        var aUrl = await ServingOnAsync(siteA);
        var imageDir = Directory.CreateDirectory(Path.Combine(a, "image-src")).FullName;
        var kernel = RandomNumberGenerator.GetBytes(300_000);
        await File.WriteAllBytesAsync(Path.Combine(imageDir, "vmlinuz"), kernel);
        await File.WriteAllBytesAsync(Path.Combine(imageDir, "initrd.img"), RandomNumberGenerator.GetBytes(200_000));
        await MustAsync(KldloadProcess.RunAsync(_dir, ["image", "import", imageDir, "--name", "live", "--version", "1", "--channel", "stable", "-q", .. aSettings]));

        JsonElement before;
        using (var http = Client(aUrl, aData, ns: null))
        {
            var first = await AttestAsync(http, tpm, mac);
            Assert.Equal("Enrolling", first.GetProperty("state").GetString());
            var approve = await http.PostAsync(new Uri($"/api/v1/nodes/{mac}/approve", UriKind.Relative), null);
            Assert.True(approve.IsSuccessStatusCode, await approve.Content.ReadAsStringAsync());
            Assert.Equal("Attested", (await AttestAsync(http, tpm, mac)).GetProperty("state").GetString());
            before = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", before.GetProperty("state").GetString());
            Assert.False(string.IsNullOrEmpty(before.GetProperty("meshAddress").GetString()));
        }

        // The stick: a signed kit and an encrypted backup that leaves the image blobs to the kit.
        var stick = Directory.CreateDirectory(Path.Combine(_dir, "stick")).FullName;
        var kit = Path.Combine(stick, "site.kit");
        await MustAsync(KldloadProcess.RunAsync(_dir, ["kit", "export", "-o", kit, "--channel", "stable", "--sign", release + ".key", "-q", .. aSettings]));
        var identity = AgeIdentity.Generate();
        var backupKey = Path.Combine(stick, "site-backup.key");
        await File.WriteAllTextAsync(backupKey, identity.ToFileText(DateTimeOffset.UtcNow));
        var backup = Path.Combine(stick, "site.age");
        await MustAsync(KldloadProcess.RunAsync(_dir, "backup", "-o", backup, "-r", identity.Recipient.ToString(), "--without-images", "--server", aUrl.ToString(), $"--Kldload:DataDir={aData}", "-q"));
        siteA.Signal("TERM");
        Assert.True(await siteA.TryWaitForExitAsync(TimeSpan.FromSeconds(30)), "site A did not stop");

        // Fresh hardware: a namespace with loopback only, from which site A cannot be reached.
        NetworkLab.Ip("netns", "add", _ns);
        NetworkLab.IpIn(_ns, "link", "set", "lo", "up");
        var (_, links) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(20), "ip", "-n", _ns, "-o", "link", "show");
        Assert.Equal(["lo"], links.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim()));
        var (curl, _) = await PeerProcess.RunAsync(TimeSpan.FromSeconds(20), "ip", "netns", "exec", _ns, "curl", "-sS", "-m", "5", aUrl + "readyz");
        Assert.NotEqual(0, curl);

        var b = Path.Combine(_dir, "b");
        var bData = Path.Combine(b, "var");
        var bTftp = Directory.CreateDirectory(Path.Combine(b, "tftp")).FullName;
        string[] bSettings = [$"--Kldload:DataDir={bData}", $"--Tftp:Root={bTftp}", .. NoGrub(b)];
        var restore = await InNamespaceAsync(["restore", backup, "-i", backupKey, "-q", .. bSettings]);
        Assert.True(restore.ExitCode == 0, restore.Output);
        Assert.Empty(Blobs(bData)); // the backup left the images to the kit
        Assert.True(File.Exists(Path.Combine(bData, "images", "trusted-keys", "release.pub")), "the backup carries the key the kit is signed with");

        var import = await InNamespaceAsync(["kit", "import", kit, "-q", .. bSettings]);
        Assert.True(import.ExitCode == 0, import.Output);
        var bEkRoots = Path.Combine(bData, "ek-roots");
        Assert.Contains($"set Attestation:EkRootsDir={bEkRoots}", import.Output, StringComparison.Ordinal);
        Assert.Equal(Blobs(aData), Blobs(bData));
        foreach (var loader in new[] { "undionly.kpxe", "snponly.efi" })
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(aTftp, loader)), await File.ReadAllBytesAsync(Path.Combine(bTftp, loader)));
        }

        Assert.Equal(["issuer.pem", "root.pem"], Directory.GetFiles(bEkRoots).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var root in Directory.GetFiles(aEkRoots))
        {
            Assert.Equal(await File.ReadAllBytesAsync(root), await File.ReadAllBytesAsync(Path.Combine(bEkRoots, Path.GetFileName(root))));
        }

        // Site B serves; the same TPM comes back as the same node, with no approval.
        var siteB = Start(_ns, ["serve", "--urls", "http://127.0.0.1:0", "--Tftp:Enabled=false", "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Approve", $"--Attestation:EkRootsDir={bEkRoots}", .. bSettings]);
        var bUrl = await ServingOnAsync(siteB);
        using (var http = Client(bUrl, bData, _ns))
        {
            // The kernel the boot script names is the one site A imported, served from the kit's blobs.
            var script = await http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&arch=x86_64", UriKind.Relative));
            var digest = KernelDigest().Match(script).Groups[1].Value;
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(kernel)), digest);
            Assert.Equal(kernel, await http.GetByteArrayAsync(new Uri($"/images/{digest}", UriKind.Relative)));

            // Its EK certificate is checked against the roots from the kit (a wrong root refuses it).
            var again = await AttestAsync(http, tpm, mac);
            Assert.Equal("Attested", again.GetProperty("state").GetString());
            var after = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}", UriKind.Relative));
            Assert.Equal("Ready", after.GetProperty("state").GetString());
            foreach (var key in new[] { "id", "name", "ekFingerprint", "meshAddress", "wireguardPublicKey" })
            {
                Assert.Equal(before.GetProperty(key).ToString(), after.GetProperty(key).ToString());
            }

            Assert.Equal(Convert.ToBase64String(tpm.WireGuardKey().Public), after.GetProperty("wireguardPublicKey").GetString());
            var nodes = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/nodes", UriKind.Relative));
            Assert.Single(Items(nodes, "nodes"));
            // Site A's one approval is in the restored history, and site B asked for none.
            var events = await http.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{mac}/events", UriKind.Relative));
            Assert.Single(Items(events, "events"), e => e.GetProperty("message").GetString()!.StartsWith("EK and firmware approved", StringComparison.Ordinal));
        }
    }

    /// <summary>The signed shim/GRUB paths inside the test's directory: the host's real files must never be read or written.</summary>
    private static string[] NoGrub(string root) =>
        [$"--Boot:Grub:ShimX64={Path.Combine(root, "boot", "shimx64.efi")}", $"--Boot:Grub:GrubX64={Path.Combine(root, "boot", "grubx64.efi")}"];

    private static IEnumerable<JsonElement> Items(JsonElement list, string property) =>
        list.ValueKind == JsonValueKind.Array ? list.EnumerateArray() : list.GetProperty(property).EnumerateArray();

    private static string[] Blobs(string dataDir)
    {
        var dir = Path.Combine(dataDir, "images", "blobs");
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Where(n => n.Length == 64).Order(StringComparer.Ordinal).ToArray()
            : [];
    }

    /// <summary>The agent's attestation with the EK certificate from the TPM's NV (and an event log of a boot that measured nothing); returns the activate answer (and reports Ready when Attested).</summary>
    private static async Task<JsonElement> AttestAsync(HttpClient http, SwtpmNode tpm, string mac)
    {
        using var session = await Agent.BeginAsync(http, tpm, await Agent.BootTokenAsync(http, mac), mac);
        var body = Agent.BuildQuote(session.Tpm, session.Ek, session.Ak, session.SessionId, session.Nonce, tpm.WireGuardKey().Public);
        body["eventLog"] = Convert.ToBase64String(EventLogs.EmptySha256());
        body["ekCertificate"] = Convert.ToBase64String(EndorsementKey.ReadCertificate(session.Tpm, EkKind.RsaL1) ?? throw new InvalidOperationException("no EK certificate in NV"));
        var quote = await Agent.PostAsync(http, "quote", body);
        Assert.True(quote.IsSuccessStatusCode, await quote.Content.ReadAsStringAsync());
        var proof = Agent.Proof(session.Ek, session.Ak, await quote.Content.ReadFromJsonAsync<JsonElement>(), session.SessionId);
        var activate = await Agent.PostAsync(http, "activate", new { sessionId = session.SessionId, proof });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
        var answer = await activate.Content.ReadFromJsonAsync<JsonElement>();
        if (answer.GetProperty("state").GetString() == "Attested")
        {
            var ready = await Agent.PostAsync(http, "ready", new { sessionId = session.SessionId });
            Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        }

        return answer;
    }

    /// <summary>Starts kldload (in <paramref name="ns"/> when given); stopped by PID when the test ends.</summary>
    private PeerProcess Start(string? ns, string[] args)
    {
        var (file, all) = KldloadProcess.Command(args);
        var p = ns is null ? PeerProcess.Start(file, all, _dir) : PeerProcess.Start("ip", ["netns", "exec", ns, file, .. all], _dir);
        _processes.Add(p);
        return p;
    }

    private async Task<(int ExitCode, string Output)> InNamespaceAsync(string[] args)
    {
        var (file, all) = KldloadProcess.Command(args);
        return await PeerProcess.RunAsync(TimeSpan.FromSeconds(120), "ip", ["netns", "exec", _ns, file, .. all]);
    }

    private static async Task<Uri> ServingOnAsync(PeerProcess server)
    {
        try
        {
            return new Uri((await server.WaitForOutputAsync(ServingOn(), TimeSpan.FromSeconds(60))).Groups[1].Value);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            throw new InvalidOperationException($"kldload serve did not start: {server.Output}", e);
        }
    }

    private static async Task MustAsync(Task<(int ExitCode, string Stdout, string Stderr)> run)
    {
        var (code, stdout, stderr) = await run;
        Assert.True(code == 0, $"exit {code}: {stdout}\n{stderr}");
    }

    /// <summary>An admin client with the data directory's token; its connections are made in <paramref name="ns"/> when given.</summary>
    private static HttpClient Client(Uri url, string dataDir, string? ns)
    {
        var handler = ns is null ? new SocketsHttpHandler() : NetworkLab.HttpHandlerIn(ns);
        var http = new HttpClient(handler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());
        return http;
    }

    [GeneratedRegex(@"/images/([0-9a-f]{64})")]
    private static partial Regex KernelDigest();

    [GeneratedRegex(@"serving on (http://[0-9.]+:\d+)")]
    private static partial Regex ServingOn();
}
