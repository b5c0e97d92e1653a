using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Tests.Attestation;

namespace Kldload.Provisioner.Tests.Power;

/// <summary>
/// `kldload nodes rebuild` closed loop: the real CLI against a kldload host, ipmi_sim as the node's BMC,
/// and a node made of swtpm and the agent's attestation steps that "boots" when ipmi_sim powers it on
/// again. Done means the node attested its new boot and is Ready, not that the BMC said "on".
/// </summary>
[Trait("Tier", "Peer")]
public sealed class RebuildTests : IAsyncLifetime
{
    private const string Mac = "52:54:00:15:10:01";
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-rebuild-").FullName;
    private readonly FixedImages _images = new();
    private TestHost _host = null!;
    private IpmiSim _sim = null!;

    public async Task InitializeAsync()
    {
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _images.Channels["next"] = FixedImages.Image("live", "2");
        _host = await TestHost.StartAsync(_dir, _images, "--Boot:DefaultChannel=stable", "--Attestation:EnrollmentPolicy=Lab");
        _sim = await IpmiSim.StartAsync(poweredOn: true);
    }

    public async Task DisposeAsync()
    {
        await _sim.DisposeAsync();
        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Rebuild_NodeAttestsTheNewChannel_ExitZeroWithBootToMeshTime()
    {
        using var tpm = new SwtpmNode();
        await Agent.AttestAsync(_host.Http, tpm, await BootTokenAsync(), Mac);
        await SetBmcAsync();
        Assert.Equal("live 1", (await NodeAsync()).GetProperty("lastBootedImage").GetString());

        await using var cli = KldloadProcess.Start(_dir, ["nodes", "rebuild", Mac, "--channel", "next", "--timeout", "50s", .. Common()]);
        // The machine: it boots when its BMC has set a one-time network boot and power comes back.
        await WaitForAsync(() => _sim.BootFile == "pxe" && _sim.ControlLog.Count(l => l == "power 1") >= 1 && _sim.PowerFile == "1", TimeSpan.FromSeconds(40));
        await Agent.AttestAsync(_host.Http, tpm, await BootTokenAsync(), Mac);

        Assert.True(await cli.WaitForExitAsync(TimeSpan.FromSeconds(50)), cli.Stdout + cli.Stderr);
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
        Assert.Contains("Ready on live 2", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("boot to mesh", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("power cycle sent", cli.Stdout, StringComparison.Ordinal);
        var node = await NodeAsync();
        Assert.Equal("Ready", node.GetProperty("state").GetString());
        Assert.Equal("live 2", node.GetProperty("lastBootedImage").GetString());
        // ipmi_sim saw the power go off and on again after the boot flags were set.
        Assert.Equal(["boot pxe", "power 0", "power 1"], _sim.ControlLog);
    }

    [Fact]
    public async Task Rebuild_NodeNeverBoots_TimesOutExitOneWithTheLastSteps()
    {
        using var tpm = new SwtpmNode();
        await Agent.AttestAsync(_host.Http, tpm, await BootTokenAsync(), Mac);
        await SetBmcAsync();

        var (code, stdout, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "rebuild", Mac, "--channel", "next", "--timeout", "4s", .. Common()]);

        Assert.Equal(1, code);
        Assert.Contains("timed out after", stderr, StringComparison.Ordinal);
        Assert.Contains("last steps seen:", stderr, StringComparison.Ordinal);
        Assert.Contains("power cycle sent", stderr, StringComparison.Ordinal);
        Assert.Contains("reimage with channel next", stdout, StringComparison.Ordinal);
        Assert.Equal("Reimaging", (await NodeAsync()).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Rebuild_NoBmc_RefusedBeforeTheCycle()
    {
        using var tpm = new SwtpmNode();
        await Agent.AttestAsync(_host.Http, tpm, await BootTokenAsync(), Mac);

        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, ["nodes", "rebuild", Mac, "--channel", "next", "--timeout", "10s", .. Common()]);

        Assert.Equal(1, code);
        Assert.Contains("no BMC recorded", stderr, StringComparison.Ordinal);
        Assert.Empty(_sim.ControlLog);
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("15m", 900)]
    [InlineData("1h", 3600)]
    [InlineData("00:00:30", 30)]
    public void TryParseDuration_Forms_Seconds(string text, int seconds)
    {
        Assert.True(Kldload.Provisioner.Cli.RebuildCommand.TryParseDuration(text, out var d));
        Assert.Equal(TimeSpan.FromSeconds(seconds), d);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0s")]
    [InlineData("-5m")]
    [InlineData("15x")]
    public void TryParseDuration_Bad_Refused(string text) =>
        Assert.False(Kldload.Provisioner.Cli.RebuildCommand.TryParseDuration(text, out _));

    private string[] Common() => ["--server", _host.Http.BaseAddress!.ToString(), $"--Kldload:DataDir={_dir}"];

    private async Task SetBmcAsync()
    {
        var response = await _host.Admin.PutAsJsonAsync(new Uri($"/api/v1/nodes/{Mac}/bmc", UriKind.Relative), new BmcSetRequest("ipmi", "127.0.0.1", _sim.Port, IpmiSim.User, IpmiSim.Password, null, null));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> BootTokenAsync()
    {
        var script = await _host.Http.GetStringAsync(new Uri($"/boot.ipxe?mac={Mac}&platform=efi&arch=x86_64", UriKind.Relative));
        return script.Split("kldload.token=")[1].Split('\n')[0].Trim();
    }

    private async Task<JsonElement> NodeAsync() =>
        await _host.Admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/nodes/{Mac}", UriKind.Relative));

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < timeout, "condition not met in time");
            await Task.Delay(100);
        }
    }
}
