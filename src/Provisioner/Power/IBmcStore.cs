namespace Kldload.Provisioner.Power;

/// <summary>
/// BMC records, by node id. The password stays sealed (<see cref="BmcRecord.SealedPassword"/>): a store
/// keeps the ciphertext as given and never opens it. Implementations: <see cref="LiteDbBmcStore"/>,
/// <see cref="PostgresBmcStore"/>.
/// </summary>
public interface IBmcStore
{
    /// <summary>The node's BMC, or null when none was set.</summary>
    BmcRecord? Get(string nodeId);

    /// <summary>Sets the node's BMC (<see cref="BmcRecord.Id"/>), replacing every field of an earlier one.</summary>
    void Upsert(BmcRecord record);
}
