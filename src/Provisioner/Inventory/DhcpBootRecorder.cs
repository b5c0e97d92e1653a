using System.Threading.Channels;
using Kldload.Dhcp.Server;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// Records a firmware network-boot request seen by DHCP in the node's history: the start of a boot
/// (for time-to-mesh), the loader it was given, and the relay's option 82 location. The DHCP loop
/// only queues (bounded, never blocking); a background task writes to the inventory.
/// </summary>
public sealed partial class DhcpBootRecorder(NodeService nodes, TimeProvider time, ILogger<DhcpBootRecorder> logger) : BackgroundService
{
    /// <summary>A boot start counts once per this window: firmware repeats DISCOVER and REQUEST.</summary>
    private static readonly TimeSpan NewBootAfter = TimeSpan.FromMinutes(5);

    private readonly Channel<(BootClient Client, string? BootFile, DateTime At)> _queue =
        Channel.CreateBounded<(BootClient, string?, DateTime)>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    /// <summary>Called from the DHCP engine's thread for every boot client it answers.</summary>
    public void Seen(BootClient client, BootAnswer? answer)
    {
        ArgumentNullException.ThrowIfNull(client);
        // An iPXE option ROM (QEMU's, or one flashed on the NIC) is the firmware's PXE client, and its
        // DHCP is the boot's first packet; a chainloaded iPXE's DHCP falls in the same boot and is skipped in Record.
        if (client.IsPxeClient || client.IsHttpClient)
        {
            _queue.Writer.TryWrite((client, answer?.BootFile, time.GetUtcNow().UtcDateTime));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (client, bootFile, at) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                Record(client, bootFile, at);
            }
            catch (Exception e)
            {
                Log.RecordFailed(logger, client.HardwareAddress, e);
            }
        }
    }

    private void Record(BootClient client, string? bootFile, DateTime at)
    {
        if (NodeService.NormaliseMac(client.HardwareAddress) is not { } mac)
        {
            return;
        }

        var existing = nodes.Store.FindByMac(mac);
        if (existing?.BootStartedAt is { } started && at - started < NewBootAfter && existing.LastSeenAt >= started
            && !(existing.LastBootAt >= started))
        {
            return; // the same boot, still in firmware (a boot that already attested since then is over: this is a reboot)
        }

        var arch = client.Architecture?.ToString();
        var node = nodes.RecordBoot(
            new BootFacts(mac, client.MachineId?.ToString(), null, null, null, null, null),
            NodeEventKind.Dhcp,
            $"{(client.IsIpv6 ? "DHCPv6" : "DHCP")}: firmware {(client.IsHttpClient ? "HTTP" : "PXE")} boot request (arch {arch ?? "unknown"}) -> {bootFile ?? "no boot file"}");
        nodes.MarkBootStarted(node, at);
        if (client.RelayAgentInformation is { } relay)
        {
            nodes.Update(node.Id, NodeEventKind.Dhcp, "relay location (option 82) recorded", "node", n => n.Location = new RelayLocation
            {
                CircuitId = relay.CircuitId is { } c ? Convert.ToHexStringLower(c) : null,
                RemoteId = relay.RemoteId is { } r ? Convert.ToHexStringLower(r) : null,
            });
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.DhcpBootRecordFailed, Level = LogLevel.Warning, Message = "could not record the DHCP boot of {Mac}")]
        public static partial void RecordFailed(ILogger logger, string mac, Exception e);
    }
}
