using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// The roster store as the roster sees it, plus a word to the other provisioners on the database at
/// each change: every roster change ends by storing the new epoch, so that write announces it
/// (<see cref="ClusterTopics.MeshRoster"/>). Each provisioner hearing it reloads its roster and hub
/// (<see cref="MeshIdentityService.Resync"/>): a key revoked on one is off every hub at once.
/// </summary>
internal sealed class MeshHubClusterSync(IMeshRosterStore inner, IClusterNotifications cluster) : IMeshRosterStore
{
    public ulong GetEpoch() => inner.GetEpoch();

    public void SetEpoch(ulong epoch)
    {
        inner.SetEpoch(epoch);
        cluster.Publish(ClusterTopics.MeshRoster, epoch.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public IReadOnlyList<MeshMember> Members() => inner.Members();

    public void SaveMember(MeshMember member) => inner.SaveMember(member);

    public void DeleteMember(string nodeId) => inner.DeleteMember(nodeId);

    public IReadOnlyList<RevokedKey> Revoked() => inner.Revoked();

    public void AddRevoked(RevokedKey key) => inner.AddRevoked(key);

    /// <summary>Reloads <paramref name="identity"/>'s roster and hub whenever another provisioner changes the roster.</summary>
    public static IDisposable Follow(IClusterNotifications cluster, MeshIdentityService identity) =>
        cluster.Subscribe(ClusterTopics.MeshRoster, _ => identity.Resync());
}
