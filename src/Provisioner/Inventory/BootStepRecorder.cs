using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Kldload.Dhcp.Server;
using Kldload.Provisioner.Leases;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// Puts the boot steps that arrive without a MAC (TFTP transfers, image downloads) into the right
/// node's history. The node is found by the client's address: its active DHCP lease (Full mode), else
/// the address its last iPXE script request came from. Callers only queue (bounded, never blocking);
/// a background task writes the events. Steps from an address no node is known at are told to the
/// <see cref="IInventoryObserver"/> (the host counts them in <c>kldload_boot_steps_unattributed_total</c>), not guessed.
/// </summary>
public sealed partial class BootStepRecorder(NodeService nodes, DhcpLeases leases, Dhcp6Leases leases6, IInventoryObserver observer, ILogger<BootStepRecorder> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<IPAddress, string> _scriptAddresses = new();
    private readonly Channel<(IPAddress Client, NodeEventKind Kind, string Message)> _queue =
        Channel.CreateBounded<(IPAddress, NodeEventKind, string)>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    /// <summary>An iPXE script was served to <paramref name="nodeId"/> at <paramref name="client"/>.</summary>
    public void ScriptServed(IPAddress? client, string nodeId)
    {
        if (client is not null)
        {
            _scriptAddresses[Normalise(client)] = nodeId;
        }
    }

    /// <summary>A TFTP transfer ended (any outcome).</summary>
    public void TftpTransfer(IPEndPoint client, string message) => Queue(client.Address, NodeEventKind.Tftp, message);

    /// <summary>An image file was sent over HTTP.</summary>
    public void ImageFetched(IPAddress? client, string message)
    {
        if (client is not null)
        {
            Queue(client, NodeEventKind.ImageFetch, message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (client, kind, message) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                if (Resolve(client) is { } node)
                {
                    nodes.Record(node, kind, message);
                }
                else
                {
                    observer.BootStepUnattributed(kind);
                }
            }
            catch (Exception e)
            {
                Log.RecordFailed(logger, client.ToString(), e);
            }
        }
    }

    private void Queue(IPAddress client, NodeEventKind kind, string message) => _queue.Writer.TryWrite((Normalise(client), kind, message));

    private NodeRecord? Resolve(IPAddress client)
    {
        var lease = client.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            && leases.Query?.FindLease(Kldload.Dhcp.Protocol.Ipv4Address.FromIPAddress(client)) is { Status: DhcpLeaseStatus.Active } entry ? entry.Lease : null;
        if (lease is not null && NodeService.NormaliseMac(lease.HardwareAddress) is { } mac && nodes.Store.FindByMac(mac) is { } byLease)
        {
            return byLease;
        }

        if (client.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && leases6.Find(client) is { State: DhcpLeaseState.Active } lease6
            && NodeService.NormaliseMac(lease6.HardwareAddress) is { } mac6 && nodes.Store.FindByMac(mac6) is { } byLease6)
        {
            return byLease6;
        }

        return _scriptAddresses.TryGetValue(client, out var id) ? nodes.Store.Get(id) : null;
    }

    private static IPAddress Normalise(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BootStepRecordFailed, Level = LogLevel.Warning, Message = "could not record a boot step from {Client}")]
        public static partial void RecordFailed(ILogger logger, string client, Exception e);
    }
}
