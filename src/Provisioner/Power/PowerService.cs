using Kldload.Bmc;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Power;

/// <summary>A power request through the API.</summary>
public enum PowerAction
{
    Status,
    On,
    Off,
    Cycle,

    /// <summary>The next boot, and only that one, from the network.</summary>
    Pxe,
}

/// <summary>No BMC is recorded for the node.</summary>
public sealed class NoBmcException(string message) : Exception(message);

/// <summary>
/// Out-of-band power for nodes: sets a node's BMC after proving the credentials work (a refused set
/// keeps the previous record), runs power actions, and keeps the last power state and its time on the
/// node. Every outcome, a BMC that did not answer included, is an event in the node's history.
/// </summary>
public sealed class PowerService(IBmcStore store, BmcCredentialKey key, IBmcConnector connector, NodeService nodes, TimeProvider time)
{
    public BmcRecord? Get(string nodeId) => store.Get(nodeId);

    /// <summary>
    /// Logs in to the BMC with the new settings, reads the power state and system UUID, then stores the
    /// record with the password sealed. Throws <see cref="BmcException"/> (nothing stored) when the BMC
    /// refuses or does not answer.
    /// </summary>
    public async Task<(BmcRecord Record, NodeRecord Node)> SetAsync(NodeRecord node, BmcRecord candidate, string password, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(candidate);
        candidate.Id = node.Id;
        BmcPowerState state;
        BmcSystemUuid? uuid = null;
        string? uuidError = null;
        try
        {
            var client = await connector.ConnectAsync(candidate, password, cancellationToken).ConfigureAwait(false);
            await using (client.ConfigureAwait(false))
            {
                state = await client.GetPowerStateAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    uuid = await client.GetSystemUuidAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (BmcException e) when (e.Kind is BmcErrorKind.CommandRefused or BmcErrorKind.ProtocolError)
                {
                    uuidError = e.Message;
                }
            }
        }
        catch (BmcException e)
        {
            nodes.Record(node, NodeEventKind.Power, $"BMC not set ({candidate.Describe()}): {e.Message}; the previous BMC record is kept", actor, "bmc-refused");
            throw;
        }

        var now = time.GetUtcNow().UtcDateTime;
        candidate.SealedPassword = key.Seal(node.Id, password);
        candidate.BmcUuid = uuid?.Reported.ToString();
        candidate.PairingWarning = PairingCheck.Warning(uuid, PairingCheck.NodeUuid(node), uuidError);
        candidate.UpdatedAt = now;
        var updated = nodes.Atomically(() =>
        {
            store.Upsert(candidate);
            var warning = candidate.PairingWarning is null ? "; the BMC's UUID is the node's" : $"; warning: {candidate.PairingWarning}";
            return nodes.Update(node.Id, NodeEventKind.Power, $"BMC set: {candidate.Describe()}; power {state}{warning}", actor, n =>
            {
                n.PowerState = state.ToString();
                n.PowerStateAt = now;
            }, "bmc-set");
        });
        return (candidate, updated);
    }

    /// <summary>Runs a power action (or reads the state) and records the state read after it.</summary>
    public async Task<NodeRecord> PowerAsync(NodeRecord node, PowerAction action, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        var record = store.Get(node.Id) ?? throw new NoBmcException($"node {node.Id} has no BMC recorded: set one with `kldload nodes bmc set {node.Name} --ipmi HOST --user U --password-file F`");
        var password = key.Open(node.Id, record.SealedPassword);
        BmcPowerState state;
        try
        {
            var client = await connector.ConnectAsync(record, password, cancellationToken).ConfigureAwait(false);
            await using (client.ConfigureAwait(false))
            {
                switch (action)
                {
                    case PowerAction.On:
                        await client.SetPowerAsync(BmcPowerAction.On, cancellationToken).ConfigureAwait(false);
                        break;
                    case PowerAction.Off:
                        await client.SetPowerAsync(BmcPowerAction.Off, cancellationToken).ConfigureAwait(false);
                        break;
                    case PowerAction.Cycle:
                        await client.SetPowerAsync(BmcPowerAction.Cycle, cancellationToken).ConfigureAwait(false);
                        break;
                    case PowerAction.Pxe:
                        await client.SetOneTimeNetworkBootAsync(efi: node.Platform == "efi", cancellationToken).ConfigureAwait(false);
                        break;
                }

                state = await client.GetPowerStateAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (BmcException e)
        {
            nodes.Record(node, NodeEventKind.Power, $"power {action.ToString().ToLowerInvariant()} failed ({record.Describe()}): {e.Message}", actor, $"bmc-{e.Kind.ToString().ToLowerInvariant()}");
            throw;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var message = action switch
        {
            PowerAction.Status => $"power state read: {state}",
            PowerAction.Pxe => $"next boot from the network, once (via {record.Protocol.ToString().ToLowerInvariant()}); power {state}",
            _ => $"power {action.ToString().ToLowerInvariant()} sent (via {record.Protocol.ToString().ToLowerInvariant()}); power now {state}",
        };
        return nodes.Update(node.Id, NodeEventKind.Power, message, actor, n =>
        {
            n.PowerState = state.ToString();
            n.PowerStateAt = now;
        }, $"power-{action.ToString().ToLowerInvariant()}");
    }
}
