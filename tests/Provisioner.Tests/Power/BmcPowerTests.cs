using System.Text;
using System.Text.Json;

namespace Kldload.Provisioner.Tests.Power;

/// <summary>
/// `kldload nodes bmc ...` and `kldload nodes power ...` as an operator types them, against a running
/// `kldload serve` and a real BMC simulator (ipmi_sim), each result cross-checked with ipmitool.
/// </summary>
[Trait("Tier", "Peer")]
public sealed class BmcPowerTests : IDisposable
{
    /// <summary>ipmi_sim's GUID as Get System GUID reads in IPMI byte order: the node's SMBIOS UUID when they are paired.</summary>
    private const string PairedUuid = "efcdab89-6745-23a1-efcd-ab89674523a1";

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-bmc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task BmcSetAndPower_IpmiSim_EveryStateAgreesWithIpmitool()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: false);
        var (server, common) = await StartServerAsync();
        await using var running = server;
        var id = await BootNodeAsync(server, "52:54:00:15:00:01", PairedUuid);
        var good = PasswordFile("good", IpmiSim.Password);

        // A wrong password first: exit 1, the reason, no record.
        var (code, stdout, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{sim.Port}", "--user", IpmiSim.User, "--password-file", PasswordFile("bad", "wrong"), .. common]);
        Assert.Equal(1, code);
        Assert.Contains("wrong password", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await Cli(["nodes", "bmc", "show", id, .. common]);
        Assert.Equal(1, code);
        Assert.Contains("404", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{sim.Port}", "--user", IpmiSim.User, "--password-file", good, .. common]);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warning", stderr, StringComparison.Ordinal);
        Assert.Contains("power Off", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli(["nodes", "bmc", "show", id, "--json", .. common]);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain(IpmiSim.Password, stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("password", stdout, StringComparison.OrdinalIgnoreCase);
        var bmc = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("ipmi", bmc.GetProperty("protocol").GetString());
        Assert.Equal(sim.Port, bmc.GetProperty("port").GetInt32());
        Assert.Equal(PairedUuid, bmc.GetProperty("bmcUuid").GetString());
        Assert.Equal(JsonValueKind.Null, bmc.GetProperty("pairingWarning").ValueKind);

        (code, stdout, stderr) = await Cli(["nodes", "power", id, "on", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("power On", stdout, StringComparison.Ordinal);
        Assert.Contains("Chassis Power is on", (await sim.IpmitoolAsync("chassis", "power", "status")).Output, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli(["nodes", "power", id, "pxe", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Equal("pxe", sim.BootFile);
        Assert.Contains("Force PXE", (await sim.IpmitoolAsync("chassis", "bootparam", "get", "5")).Output, StringComparison.Ordinal);

        (code, _, stderr) = await Cli(["nodes", "power", id, "off", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("Chassis Power is off", (await sim.IpmitoolAsync("chassis", "power", "status")).Output, StringComparison.Ordinal);

        (code, stdout, stderr) = await Cli(["nodes", "show", id, "--json", .. common]);
        Assert.True(code == 0, stderr);
        var node = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("Off", node.GetProperty("powerState").GetString());
        Assert.NotEqual(JsonValueKind.Null, node.GetProperty("powerStateAt").ValueKind);
        (code, stdout, _) = await Cli(["nodes", "list", .. common]);
        Assert.Equal(0, code);
        Assert.Contains("POWER", stdout, StringComparison.Ordinal);

        // The password is sealed at rest: not in the database in clear; the key file is 0600.
        var dataDir = common[^1]["--Kldload:DataDir=".Length..];
        var db = await File.ReadAllBytesAsync(Path.Combine(dataDir, "kldload.db"));
        Assert.Equal(-1, db.AsSpan().IndexOf(Encoding.UTF8.GetBytes(IpmiSim.Password)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dataDir, "bmc.key")));

        // A refused set keeps the previous record.
        (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{sim.Port}", "--user", "mallory", "--password-file", good, .. common]);
        Assert.Equal(1, code);
        Assert.Contains("mallory", stderr, StringComparison.Ordinal);
        (code, stdout, _) = await Cli(["nodes", "bmc", "show", id, "--json", .. common]);
        Assert.Equal(0, code);
        Assert.Equal(IpmiSim.User, JsonDocument.Parse(stdout).RootElement.GetProperty("user").GetString());
        (code, stdout, stderr) = await Cli(["nodes", "power", id, "status", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("power Off", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await Cli(["nodes", "events", id, "--json", .. common]);
        Assert.Equal(0, code);
        var power = JsonDocument.Parse(stdout).RootElement.EnumerateArray().Where(e => e.GetProperty("kind").GetString() == "Power").Select(e => e.GetProperty("message").GetString()!).ToList();
        Assert.Contains(power, m => m.StartsWith("BMC not set", StringComparison.Ordinal) && m.Contains("wrong password", StringComparison.Ordinal));
        Assert.Contains(power, m => m.StartsWith("BMC set: ipmi", StringComparison.Ordinal));
        Assert.Contains(power, m => m.StartsWith("power on sent", StringComparison.Ordinal));
        Assert.Contains(power, m => m.StartsWith("next boot from the network", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BmcSet_OtherMachinesBmc_WarnsAboutPairing()
    {
        await using var sim = await IpmiSim.StartAsync();
        var (server, common) = await StartServerAsync();
        await using var running = server;
        var id = await BootNodeAsync(server, "52:54:00:15:00:02", "11111111-2222-3333-4444-555555555555");

        var (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{sim.Port}", "--user", IpmiSim.User, "--password-file", PasswordFile("p", IpmiSim.Password), .. common]);

        Assert.True(code == 0, stderr);
        Assert.Contains("warning: the BMC's system UUID", stderr, StringComparison.Ordinal);
        Assert.Contains("11111111-2222-3333-4444-555555555555", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BmcSetAndPower_UnreachableBmc_ClearErrorWithinTheRetryBudget()
    {
        var (server, common) = await StartServerAsync();
        await using var running = server;
        var id = await BootNodeAsync(server, "52:54:00:15:00:03", PairedUuid);
        using var closed = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)closed.Client.LocalEndPoint!).Port;

        // A socket that reads and never answers: the BMC hangs. The CLI must end, with the reason.
        var (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{port}", "--user", "admin", "--password-file", PasswordFile("p", "x"), .. common]);

        Assert.Equal(1, code);
        Assert.Contains("504", stderr, StringComparison.Ordinal);
        Assert.Contains("did not answer", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await Cli(["nodes", "power", id, "status", .. common]);
        Assert.Equal(1, code);
        Assert.Contains("no BMC recorded", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BmcSetAndPower_RedfishPinnedCertificate_ResetsReachTheService()
    {
        await using var service = await RedfishService.StartAsync();
        var (server, common) = await StartServerAsync();
        await using var running = server;
        var id = await BootNodeAsync(server, "52:54:00:15:00:04", service.Uuid.ToString());
        var password = PasswordFile("rf", RedfishService.Password);

        var (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--redfish", service.BaseAddress.ToString(), "--system", RedfishService.SystemId, "--user", RedfishService.User, "--password-file", password, "--fingerprint", new string('0', 64), .. common]);
        Assert.Equal(1, code);
        Assert.Contains("not the pinned one", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--redfish", service.BaseAddress.ToString(), "--system", RedfishService.SystemId, "--user", RedfishService.User, "--password-file", password, "--fingerprint", service.Fingerprint, .. common]);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warning", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await Cli(["nodes", "power", id, "pxe", .. common]);
        Assert.True(code == 0, stderr);
        (code, var stdout, stderr) = await Cli(["nodes", "power", id, "cycle", .. common]);
        Assert.True(code == 0, stderr);
        Assert.Contains("power On", stdout, StringComparison.Ordinal);
        Assert.Equal(["On"], service.Resets); // a cycle of a system that is off starts it
        Assert.Equal("Pxe", service.BootTarget);
        Assert.Equal("Once", service.BootEnabled);
    }

    [Fact]
    public async Task BackupRestore_BmcKeyTravelsWithTheDatabase_PowerWorksOnTheRestoredService()
    {
        await using var sim = await IpmiSim.StartAsync(poweredOn: true);
        var source = Path.Combine(_dir, "var");
        string id;
        var (server, common) = await StartServerAsync();
        await using (server)
        {
            id = await BootNodeAsync(server, "52:54:00:15:00:05", PairedUuid);
            var (code, _, stderr) = await Cli(["nodes", "bmc", "set", id, "--ipmi", $"127.0.0.1:{sim.Port}", "--user", IpmiSim.User, "--password-file", PasswordFile("p", IpmiSim.Password), .. common]);
            Assert.True(code == 0, stderr);
        }

        var identity = Kldload.Age.AgeIdentity.Generate();
        var identityFile = Path.Combine(_dir, "backup.key");
        await File.WriteAllTextAsync(identityFile, identity.ToFileText(DateTimeOffset.UtcNow));
        var archive = Path.Combine(_dir, "site.age");
        var backup = await Cli(["backup", "--offline", "-o", archive, "-r", identity.Recipient.ToString(), $"--Kldload:DataDir={source}", "-q"]);
        Assert.True(backup.ExitCode == 0, backup.Stderr);
        var target = Path.Combine(_dir, "restored");
        var restore = await Cli(["restore", archive, "-i", identityFile, $"--Kldload:DataDir={target}"]);
        Assert.True(restore.ExitCode == 0, restore.Stderr);

        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(source, "bmc.key")), await File.ReadAllBytesAsync(Path.Combine(target, "bmc.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(target, "bmc.key")));
        var (restored, restoredCommon) = await StartServerAsync(target);
        await using (restored)
        {
            var (code, stdout, stderr) = await Cli(["nodes", "power", id, "status", .. restoredCommon]);
            Assert.True(code == 0, stderr);
            Assert.Contains("power On", stdout, StringComparison.Ordinal);
        }
    }

    private async Task<(KldloadProcess Server, string[] Common)> StartServerAsync(string? dataDirectory = null)
    {
        var dataDir = dataDirectory ?? Path.Combine(_dir, "var");
        var server = KldloadProcess.Start(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false");
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        return (server, ["--server", url.ToString(), $"--Kldload:DataDir={dataDir}"]);
    }

    private static async Task<string> BootNodeAsync(KldloadProcess server, string mac, string uuid)
    {
        var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(5));
        using var http = new HttpClient { BaseAddress = url };
        await http.GetStringAsync(new Uri($"/boot.ipxe?mac={mac}&platform=efi&uuid={uuid}", UriKind.Relative));
        return mac;
    }

    private string PasswordFile(string name, string password)
    {
        var path = Path.Combine(_dir, name + ".pw");
        File.WriteAllText(path, password + "\n");
        return path;
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Cli(string[] args) => KldloadProcess.RunAsync(_dir, args);
}
