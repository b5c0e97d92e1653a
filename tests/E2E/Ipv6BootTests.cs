using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Kldload.E2E.Tests;

/// <summary>
/// End-to-end on an IPv6-only segment (issue 21): OVMF's own UEFI PXE client (the NIC's option ROM off,
/// its IPv4 PXE off) asks DHCPv6 with client architecture 7, gets <c>tftp://[fd00:77::1]/snponly.efi</c>
/// and fetches it over TFTP on IPv6; iPXE takes its address by DHCPv6 (the radvd advertisement has
/// M = 1), chains <c>http://[fd00:77::1]:8080/boot.ipxe</c> (kldload's <c>--urls</c> and
/// <c>Kldload:ServerUrl</c> are that IPv6 URL) and boots the live image with <c>kldload.net=dhcp6</c>,
/// whose init takes the node's address by DHCPv6 before the agent attests over IPv6 and joins the mesh
/// through the hub's IPv6 endpoint.
/// </summary>
[Trait("Tier", "Qemu")]
public partial class Ipv6BootTests(ITestOutputHelper output)
{
    private static readonly TimeSpan VmLimit = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Boot_OvmfPxeOverIpv6Only_LoaderByTftp6LiveImageByDhcp6Ready()
    {
        await using var lab = await BootLab.StartAsync(new LabOptions { Ipv6Only = true });
        const string mac = "52:54:00:e2:e6:21";
        var vm = await lab.StartVmAsync(mac, firmware: Firmware.Ovmf);

        var node = await lab.WaitReadyAsync(vm, mac, VmLimit);

        var id = node.GetProperty("id").GetString()!;
        var console = BootLab.Tail(vm.SerialLog);
        // The live image's own DHCPv6 step: an address from the pool, on the boot NIC.
        var dhcp6 = LiveImageDhcp6().Match(console);
        Assert.True(dhcp6.Success, "the live image did not take an address by DHCPv6:\n" + console);
        var address = IPAddress.Parse(dhcp6.Groups["address"].Value);
        Assert.True(InPool(address), $"{address} is not in fd00:77::100-1ff");
        Assert.DoesNotContain("udhcpc", console, StringComparison.Ordinal);

        // The firmware fetched the loader by TFTP over IPv6, and iPXE the script and image over HTTP on IPv6.
        var events = await lab.EventsAsync(id);
        var messages = events.Select(e => e.GetProperty("kind").GetString() + ": " + e.GetProperty("message").GetString()).ToList();
        Assert.Contains(messages, m => m.StartsWith("Tftp:", StringComparison.Ordinal) && m.Contains("snponly.efi", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Script:", StringComparison.Ordinal) && m.Contains("from fd00:77::", StringComparison.Ordinal));
        // The node's history starts with the firmware's DHCPv6 request and the loader it was given.
        Assert.Contains(messages, m => m.StartsWith("Dhcp: DHCPv6: firmware PXE boot request (arch EfiX64)", StringComparison.Ordinal)
            && m.EndsWith("-> snponly.efi", StringComparison.Ordinal));

        // The live image's lease is in the DHCPv6 lease listing, attributed to the node.
        var leases = await lab.GetAsync($"leases6?mac={mac}");
        var lease = leases.GetProperty("leases").EnumerateArray().SingleOrDefault(l => l.GetProperty("address").GetString() == address.ToString());
        Assert.True(lease.ValueKind == System.Text.Json.JsonValueKind.Object, $"{address} not in GET /api/v1/leases6?mac={mac}: {leases}");
        Assert.Equal("Active", lease.GetProperty("state").GetString());
        Assert.Equal(id, lease.GetProperty("nodeId").GetString());
        Assert.Equal(mac, lease.GetProperty("mac").GetString());

        var mesh = node.GetProperty("meshAddress").GetString();
        Assert.False(string.IsNullOrEmpty(mesh));
        var ping = await lab.PingAsync(mesh!);
        Assert.True(ping.ExitCode == 0, $"ping {mesh} over the hub failed: {ping.Output}");
        var seconds = node.GetProperty("lastBootToMeshSeconds").GetDouble();
        output.WriteLine($"IPv6-only OVMF PXE: node {id} Ready, live image address {address} by DHCPv6, mesh {mesh}, lastBootToMeshSeconds {BootLab.FormatSeconds(seconds)}");
        foreach (var m in messages)
        {
            output.WriteLine("  " + m);
        }
    }

    private static bool InPool(IPAddress address)
    {
        var b = address.GetAddressBytes();
        var prefix = IPAddress.Parse("fd00:77::").GetAddressBytes();
        return b.AsSpan(0, 14).SequenceEqual(prefix.AsSpan(0, 14)) && b[14] == 0x01;
    }

    [GeneratedRegex(@"kldload-agent: dhcp6: \S+ (?<address>fd00:77::[0-9a-f:]+) \(valid")]
    private static partial Regex LiveImageDhcp6();
}
