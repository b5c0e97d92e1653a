namespace Kldload.Provisioner.Storage;

/// <summary>
/// Tells the other kldload instances on the same database that something changed, so each can update
/// what it holds in memory: the dashboard's live stream, the operator-token cache, the mesh roster and
/// hub. A message carries a topic (<see cref="ClusterTopics"/>) and a short payload (an id); receivers
/// read the change itself from the database. Only other instances' messages are delivered.
/// </summary>
public interface IClusterNotifications
{
    /// <summary>
    /// Announces a change. Inside a transaction of the store it is sent on commit (and not at all on
    /// a rollback), so a receiver never reads before the change is visible.
    /// </summary>
    void Publish(string topic, string payload);

    /// <summary>
    /// Calls <paramref name="handler"/> with the payload of each message on <paramref name="topic"/>
    /// from another instance, and with null after an outage of the connection, when messages may
    /// have been missed (reload everything). Dispose to stop.
    /// </summary>
    IDisposable Subscribe(string topic, Action<string?> handler);
}

/// <summary>The topics instances tell each other about; docs/storage.md lists what each carries.</summary>
public static class ClusterTopics
{
    /// <summary>A node event was recorded; payload: its sequence number.</summary>
    public const string NodeEvent = "node-event";

    /// <summary>An operator token was created or revoked; payload: its name.</summary>
    public const string OperatorTokens = "operator-tokens";

    /// <summary>The mesh roster changed (member enrolled, key revoked, epoch); payload: the node id, or empty.</summary>
    public const string MeshRoster = "mesh-roster";
}

/// <summary>One instance alone (LiteDB): there is nobody to tell, and nothing arrives.</summary>
public sealed class SingleInstanceNotifications : IClusterNotifications
{
    public static readonly SingleInstanceNotifications Instance = new();

    private SingleInstanceNotifications()
    {
    }

    public void Publish(string topic, string payload)
    {
    }

    public IDisposable Subscribe(string topic, Action<string?> handler) => NoSubscription.Instance;

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }
}
