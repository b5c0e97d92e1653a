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

    public ulong NextEpoch(ulong current)
    {
        var epoch = inner.NextEpoch(current);
        cluster.Publish(ClusterTopics.MeshRoster, epoch.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return epoch;
    }

    public IReadOnlyList<MeshMember> Members() => inner.Members();

    public void SaveMember(MeshMember member) => inner.SaveMember(member);

    public void DeleteMember(string nodeId) => inner.DeleteMember(nodeId);

    public IReadOnlyList<RevokedKey> Revoked() => inner.Revoked();

    public void AddRevoked(RevokedKey key) => inner.AddRevoked(key);

    public IReadOnlyList<MeshHubRecord> Hubs() => inner.Hubs();

    /// <summary>A hub announcing itself changes no node's bundle (no epoch), but every other hub must peer with it.</summary>
    public void SaveHub(MeshHubRecord hub)
    {
        inner.SaveHub(hub);
        cluster.Publish(ClusterTopics.MeshRoster, "hub " + hub.InstanceId);
    }

    /// <summary>
    /// Reloads <paramref name="identity"/>'s roster and hub whenever another provisioner changes the
    /// roster. Notices that arrive while a reload runs fold into one more reload after it (a boot storm
    /// on another site is a burst of notices; each reload reads the whole roster anyway).
    /// </summary>
    public static IDisposable Follow(IClusterNotifications cluster, MeshIdentityService identity, ILogger logger)
    {
        var coalescer = new ResyncCoalescer(identity, logger);
        return cluster.Subscribe(ClusterTopics.MeshRoster, _ => coalescer.Request());
    }

    /// <summary>Runs at most one <see cref="MeshIdentityService.Resync"/> at a time, and one more for every burst that arrived meanwhile.</summary>
    internal sealed class ResyncCoalescer(MeshIdentityService identity, ILogger logger)
    {
        private int _state; // 0 idle, 1 running, 2 running and asked again

        public void Request()
        {
            if (Interlocked.Increment(ref _state) > 1)
            {
                Interlocked.Exchange(ref _state, 2);
                return; // the running reload goes round once more
            }

            do
            {
                Interlocked.Exchange(ref _state, 1);
                try
                {
                    identity.Resync();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    ResyncLog.ResyncFailed(logger, e);
                }
            }
            while (Interlocked.CompareExchange(ref _state, 0, 1) != 1);
        }

    }
}

/// <summary>The log lines of <see cref="MeshHubClusterSync.ResyncCoalescer"/>.</summary>
internal static partial class ResyncLog
{
    [LoggerMessage(EventId = LogEvents.MeshResyncFailed, Level = LogLevel.Warning, Message = "mesh roster reload after another provisioner's change failed; the next change retries it")]
    public static partial void ResyncFailed(ILogger logger, Exception exception);
}
