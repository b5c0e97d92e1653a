using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// Issue 9 scenario 5: dnsmasq owns the addresses on the segment; kldload runs <c>Dhcp:Mode=Proxy</c>
/// and answers PXE only. The VM takes its address from dnsmasq, its boot file from kldload, and reaches Ready.
/// </summary>
[Trait("Tier", "Qemu")]
public class ProxyModeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(6);

    [Fact]
    public async Task Boot_DnsmasqOwnsAddressesKldloadProxy_ReachesReadyOnTheMesh()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { ProxyDhcp = true });
        const string mac = "52:54:00:e2:e0:31";
        var vm = await lab.StartVmAsync(mac);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        // The address came from dnsmasq: its lease file has the MAC (iPXE and the live image's udhcpc may
        // each hold a lease), and the live image's address is one of them.
        var addresses = File.ReadAllLines(lab.DnsmasqLeases!)
            .Where(l => l.Contains(mac, StringComparison.OrdinalIgnoreCase))
            .Select(l => l.Split(' ')[2])
            .ToList();
        Assert.NotEmpty(addresses);
        var console = File.ReadAllText(vm.SerialLog);
        var address = addresses.FirstOrDefault(a => console.Contains($"kldload-init: eth0 {a}/24", StringComparison.Ordinal));
        Assert.True(address is not null, $"the live image's address is not one of dnsmasq's leases ({string.Join(", ", addresses)})");
        var mesh = node.GetProperty("meshAddress").GetString();
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        output.WriteLine($"proxy mode: address {address} from dnsmasq, node {node.GetProperty("id").GetString()} Ready, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(node.GetProperty("lastBootToMeshSeconds").GetDouble())}");
    }
}
