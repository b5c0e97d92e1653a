namespace Kldload.Provisioner.Inventory;

/// <summary>Nodes and their append-only history. LiteDB is the embedded implementation.</summary>
public interface INodeStore
{
    NodeRecord? Get(string id);

    NodeRecord? FindByMac(string mac);

    NodeRecord? FindByUuid(string uuid);

    /// <summary>The node with this name (names are unique), by index.</summary>
    NodeRecord? FindByName(string name);

    /// <summary>How many nodes are in <paramref name="state"/>, by index.</summary>
    int Count(NodeState state);

    /// <summary>Discovered nodes that never attested and were last seen before <paramref name="before"/>: removed with their history.</summary>
    int DeleteStaleDiscovered(DateTime before, int limit);

    /// <summary>Runs <paramref name="work"/> as one transaction of the store: all of its writes or none.</summary>
    T InTransaction<T>(Func<T> work);

    /// <summary>Nodes whose EK has this fingerprint (more than one only after a replace).</summary>
    IReadOnlyList<NodeRecord> FindByEkFingerprint(string fingerprint);

    IReadOnlyList<NodeRecord> List();

    void Upsert(NodeRecord node);

    /// <summary>Appends an event; the store assigns its sequence number.</summary>
    NodeEvent Append(NodeEvent e);

    /// <summary>A node's history, oldest first.</summary>
    IReadOnlyList<NodeEvent> Events(string nodeId);

    /// <summary>Events of every node with a sequence number above <paramref name="afterId"/>, oldest first.</summary>
    IReadOnlyList<NodeEvent> EventsAfter(long afterId, int limit);
}

/// <summary>Profiles, by name.</summary>
public interface IProfileStore
{
    IReadOnlyList<Profile> List();

    Profile? Get(string name);

    void Upsert(Profile profile);

    bool Delete(string name);
}
