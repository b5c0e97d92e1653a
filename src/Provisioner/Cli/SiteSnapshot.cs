using System.Globalization;
using Kldload.Dhcp.Dhcp6.Leases;
using Kldload.Dhcp.Dhcp6.Server;
using Kldload.Dhcp.Leases;
using Kldload.Dhcp.Server;
using Kldload.ImageStore;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Power;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// Everything a site's database holds, read whole from one provider: what <c>kldload db migrate</c>
/// copies, and what it reads back from the target to compare, kind by kind.
/// </summary>
internal sealed class SiteSnapshot
{
    public required IReadOnlyList<NodeRecord> Nodes { get; init; }

    public required IReadOnlyList<NodeEvent> Events { get; init; }

    public required IReadOnlyList<Profile> Profiles { get; init; }

    public required IReadOnlyList<HardwareFactsRecord> Facts { get; init; }

    public required IReadOnlyList<BootToken> BootTokens { get; init; }

    public required IReadOnlyList<OperatorToken> OperatorTokens { get; init; }

    public required IReadOnlyList<AttestationSession> Sessions { get; init; }

    public required IReadOnlyList<RevokedEk> RevokedEks { get; init; }

    public required IReadOnlyList<BmcRecord> Bmcs { get; init; }

    public required IReadOnlyList<RolloutRecord> Rollouts { get; init; }

    public required IReadOnlyList<ImageManifest> Manifests { get; init; }

    public required IReadOnlyList<ChannelState> Channels { get; init; }

    /// <summary>Each channel's history, oldest first.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<ChannelEvent>> ChannelHistory { get; init; }

    public required IReadOnlyList<ImageEvent> ImageHistory { get; init; }

    /// <summary>Every mesh setting, the roster's epoch among them, as text.</summary>
    public required IReadOnlyDictionary<string, string> MeshSettings { get; init; }

    public required IReadOnlyList<MeshAddressRecord> MeshAddresses { get; init; }

    public required IReadOnlyList<MeshMember> MeshMembers { get; init; }

    public required IReadOnlyList<RevokedKey> MeshRevoked { get; init; }

    public required IReadOnlyList<DhcpLease> Leases { get; init; }

    public required IReadOnlyList<Dhcp6Lease> Leases6 { get; init; }

    /// <summary>Reads a stopped data directory: <c>kldload.db</c>, <c>leases.db</c> with its journal, <c>leases6.journal</c>.</summary>
    public static SiteSnapshot FromDataDirectory(string dataDir)
    {
        using var db = LiteKldloadDatabase.Open(Path.Combine(dataDir, "kldload.db"));
        var nodes = new LiteDbNodeStore(db);
        var catalog = new LiteDbImageCatalogStore(db.Database);
        var channels = catalog.ListChannels();
        var roster = new LiteDbMeshRosterStore(db.Database);
        return new SiteSnapshot
        {
            Nodes = nodes.List(),
            Events = nodes.EventsAfter(0, int.MaxValue),
            Profiles = ((IProfileStore)nodes).List(),
            Facts = new LiteDbHardwareFactsStore(db).All(),
            BootTokens = new LiteDbBootTokenStore(db).All(),
            OperatorTokens = new LiteDbOperatorTokenStore(db).List(),
            Sessions = new LiteDbAttestationSessionStore(db, TimeProvider.System).All(),
            RevokedEks = new LiteDbRevokedEkStore(db).All(),
            Bmcs = new LiteDbBmcStore(db).All(),
            Rollouts = new LiteDbRolloutStore(db).List(),
            Manifests = catalog.ListManifests(),
            Channels = channels,
            ChannelHistory = channels.ToDictionary(c => c.Name, c => catalog.GetChannelHistory(c.Name), StringComparer.Ordinal),
            ImageHistory = catalog.GetImageHistory(),
            MeshSettings = LiteDbSiteReader.MeshSettings(db),
            MeshAddresses = new LiteDbMeshAddressStore(db.Database).All(),
            MeshMembers = roster.Members(),
            MeshRevoked = roster.Revoked(),
            Leases = ReadIfPresent(Path.Combine(dataDir, "leases.db"), p => { using var s = LiteDbLeaseStore.Open(p); return s.LoadAll(); }),
            Leases6 = ReadIfPresent(Path.Combine(dataDir, "leases6.journal"), p => { using var s = Dhcp6LeaseJournalStore.Open(p); return s.LoadAll(); }),
        };
    }

    /// <summary>Reads the PostgreSQL database through its stores, as an instance on it would.</summary>
    public static SiteSnapshot FromPostgres(PostgresKldloadDatabase pg)
    {
        var nodes = new PostgresNodeStore(pg);
        var catalog = new PostgresImageCatalogStore(pg);
        var channels = catalog.ListChannels();
        var roster = new PostgresMeshRosterStore(pg);
        var addresses = new PostgresMeshAddressStore(pg);
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in PostgresSiteImport.MeshSettingNames(pg))
        {
            settings[name] = addresses.GetSetting(name)!;
        }

        using var leases = new PostgresLeaseStore(pg);
        using var leases6 = new PostgresLease6Store(pg);
        return new SiteSnapshot
        {
            Nodes = nodes.List(),
            Events = nodes.EventsAfter(0, int.MaxValue),
            Profiles = ((IProfileStore)nodes).List(),
            Facts = new PostgresHardwareFactsStore(pg).All(),
            BootTokens = new PostgresBootTokenStore(pg).All(),
            OperatorTokens = new PostgresOperatorTokenStore(pg).List(),
            Sessions = new PostgresAttestationSessionStore(pg, TimeProvider.System).All(),
            RevokedEks = new PostgresRevokedEkStore(pg).All(),
            Bmcs = new PostgresBmcStore(pg).All(),
            Rollouts = new PostgresRolloutStore(pg).List(),
            Manifests = catalog.ListManifests(),
            Channels = channels,
            ChannelHistory = channels.ToDictionary(c => c.Name, c => catalog.GetChannelHistory(c.Name), StringComparer.Ordinal),
            ImageHistory = catalog.GetImageHistory(),
            MeshSettings = settings,
            MeshAddresses = addresses.All(),
            MeshMembers = roster.Members(),
            MeshRevoked = roster.Revoked(),
            Leases = leases.LoadAll(),
            Leases6 = leases6.LoadAll(),
        };
    }

    /// <summary>Writes the snapshot into an empty PostgreSQL database, on the caller's transaction.</summary>
    public void WriteTo(PostgresKldloadDatabase pg)
    {
        var nodes = new PostgresNodeStore(pg);
        foreach (var node in Nodes)
        {
            nodes.Upsert(node);
        }

        nodes.ImportEvents(Events);
        foreach (var profile in Profiles)
        {
            ((IProfileStore)nodes).Upsert(profile);
        }

        new PostgresHardwareFactsStore(pg).Import(Facts);
        var bootTokens = new PostgresBootTokenStore(pg);
        foreach (var token in BootTokens)
        {
            bootTokens.Insert(token);
        }

        var operatorTokens = new PostgresOperatorTokenStore(pg);
        foreach (var token in OperatorTokens)
        {
            if (!operatorTokens.TryInsert(token))
            {
                throw new InvalidOperationException($"operator token '{token.Name}' is in the target twice");
            }
        }

        var sessions = new PostgresAttestationSessionStore(pg, TimeProvider.System);
        foreach (var session in Sessions)
        {
            sessions.Import(session);
        }

        var revoked = new PostgresRevokedEkStore(pg);
        foreach (var ek in RevokedEks)
        {
            revoked.Revoke(ek.Fingerprint, ek.NodeId, ek.Why, ek.At);
        }

        var bmcs = new PostgresBmcStore(pg);
        foreach (var bmc in Bmcs)
        {
            bmcs.Upsert(bmc);
        }

        var rollouts = new PostgresRolloutStore(pg);
        foreach (var rollout in Rollouts)
        {
            rollouts.Upsert(rollout);
        }

        new PostgresImageCatalogStore(pg).Import(change =>
        {
            foreach (var manifest in Manifests)
            {
                change.InsertManifest(manifest);
            }

            foreach (var channel in Channels)
            {
                change.PutChannel(channel);
            }

            foreach (var history in ChannelHistory.Values)
            {
                foreach (var e in history)
                {
                    change.AppendChannelEvent(e);
                }
            }

            foreach (var e in ImageHistory)
            {
                change.AppendImageEvent(e);
            }
        });

        PostgresSiteImport.ImportMeshSettings(pg, MeshSettings);
        PostgresSiteImport.ImportMeshAddresses(pg, MeshAddresses);
        PostgresSiteImport.ImportMeshRoster(pg, MeshMembers, MeshRevoked);
        PostgresSiteImport.ImportLeases(pg, Leases);
        PostgresSiteImport.ImportLeases6(pg, Leases6);
    }

    /// <summary>Each kind's count and digest (<see cref="CanonicalRecords"/>), in a fixed order.</summary>
    public IReadOnlyList<(string Kind, int Count, string Digest)> Summary() =>
    [
        Kind("nodes", Nodes, n => n.Id),
        Kind("node events", Events, e => Number(e.Id)),
        Kind("profiles", Profiles, p => p.Name),
        Kind("hardware facts", Facts, f => Number(f.Id)),
        Kind("boot tokens", BootTokens, t => t.Token),
        Kind("operator tokens", OperatorTokens, t => t.Name),
        Kind("attestation sessions", Sessions, s => s.Id),
        Kind("revoked EKs", RevokedEks, r => r.Fingerprint),
        Kind("BMC records", Bmcs, b => b.Id),
        Kind("rollouts", Rollouts, r => r.Id),
        Kind("image manifests", Manifests, m => m.Key.ToString()),
        Kind("image channels", Channels, c => c.Name),
        Kind("channel history", [.. ChannelHistory.SelectMany(h => h.Value.Select((e, i) => (Channel: h.Key, Index: i, Event: e)))], h => h.Channel + "\n" + Number(h.Index)),
        Kind("image history", [.. ImageHistory.Select((e, i) => (Index: i, Event: e))], h => Number(h.Index)),
        Kind("mesh settings", [.. MeshSettings], s => s.Key),
        Kind("mesh addresses", MeshAddresses, a => a.InterfaceId.ToString("D20", CultureInfo.InvariantCulture)),
        Kind("mesh members", MeshMembers, m => m.NodeId),
        Kind("mesh revocations", MeshRevoked, r => Convert.ToHexStringLower(r.PublicKey)),
        Kind("DHCPv4 leases", Leases, l => Number(l.Address.Value)),
        Kind("DHCPv6 leases", Leases6, l => Convert.ToHexStringLower(l.Address.GetAddressBytes())),
    ];

    private static (string, int, string) Kind<T>(string name, IReadOnlyList<T> records, Func<T, string> key) =>
        (name, records.Count, CanonicalRecords.Digest(records, key));

    private static string Number(long n) => n.ToString("D20", CultureInfo.InvariantCulture);

    private static IReadOnlyList<T> ReadIfPresent<T>(string path, Func<string, IReadOnlyList<T>> read) =>
        File.Exists(path) ? read(path) : [];
}
