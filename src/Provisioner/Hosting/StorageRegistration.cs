using Kldload.ImageStore;
using Kldload.MeshCA.Addressing;
using Kldload.MeshCA.Authority;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Power;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;

namespace Kldload.Provisioner.Hosting;

/// <summary>
/// Opens the database <c>Database:Provider</c> names and registers every store on it: the one place
/// that knows which provider is in use. Every store is built here, before the host starts, so a
/// database that cannot be reached or holds a newer schema stops start-up (exit 2) with the reason,
/// not the first request that needs it.
/// </summary>
internal static class StorageRegistration
{
    /// <summary>Worker threads the pool may start without waiting (Npgsql's default pool holds 100 connections).</summary>
    internal const int PostgresMinWorkerThreads = 100;

    /// <summary>
    /// The stores call PostgreSQL synchronously from request threads (the store interfaces are
    /// synchronous, as LiteDB is), so each query blocks a thread-pool thread for a round trip. Under a
    /// burst of attestations the pool, which adds about one thread a second once its minimum is in use,
    /// starved: requests queued for seconds behind blocked ones (bench/attest, 64 nodes on PostgreSQL:
    /// 7.3 attestations/s, challenge p50 14.7 s). A minimum of <see cref="PostgresMinWorkerThreads"/>
    /// lets the pool start those threads at once; they are made only when needed.
    /// </summary>
    private static void ReserveThreadsForBlockingQueries()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        if (workers < PostgresMinWorkerThreads)
        {
            ThreadPool.SetMinThreads(PostgresMinWorkerThreads, io);
        }
    }

    /// <summary>Registers the stores; returns the open database, to dispose when the host stops.</summary>
    public static IDisposable AddStorage(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        var services = builder.Services;
        if (config.Database.Provider == DatabaseProvider.PostgreSql)
        {
            ReserveThreadsForBlockingQueries();
            var pg = PostgresKldloadDatabase.Open(config.Database.ConnectionString!, config.Database.ConnectionStringKey);
            try
            {
                var nodes = new PostgresNodeStore(pg);
                services.AddSingleton(pg);
                services.AddSingleton<IDatabaseHealth>(pg);
                services.AddSingleton(sp => new PostgresClusterNotifications(pg, sp.GetRequiredService<ILogger<PostgresClusterNotifications>>()));
                services.AddSingleton<IClusterNotifications>(sp => sp.GetRequiredService<PostgresClusterNotifications>());
                services.AddHostedService(sp => sp.GetRequiredService<PostgresClusterNotifications>());
                services.AddSingleton<INodeStore>(nodes);
                services.AddSingleton<IProfileStore>(nodes);
                services.AddSingleton<IHardwareFactsStore>(new PostgresHardwareFactsStore(pg));
                services.AddSingleton<IBootTokenStore>(new PostgresBootTokenStore(pg));
                services.AddSingleton<IOperatorTokenStore>(new PostgresOperatorTokenStore(pg));
                pg.Migrate(PostgresAttestationSessionStore.Schema);
                services.AddSingleton<IAttestationSessionStore>(sp => new PostgresAttestationSessionStore(pg, sp.GetRequiredService<TimeProvider>()));
                services.AddSingleton<IRevokedEkStore>(new PostgresRevokedEkStore(pg));
                services.AddSingleton<IBmcStore>(new PostgresBmcStore(pg));
                services.AddSingleton<IRolloutStore>(new PostgresRolloutStore(pg));
                services.AddSingleton<IImageCatalogStore>(new PostgresImageCatalogStore(pg));
                services.AddSingleton<IBlobLocations>(new PostgresBlobLocations(pg));
                services.AddSingleton<IInstanceDirectory>(sp => new PostgresInstanceDirectory(pg, sp.GetRequiredService<InstanceIdentity>()));
                services.AddSingleton<IMeshAddressStore>(new PostgresMeshAddressStore(pg));
                services.AddSingleton<IMeshRosterStore>(new PostgresMeshRosterStore(pg));
                services.AddSingleton<ICaMaterialStore>(new PostgresCaMaterialStore(pg, new CaKeyFile(config.Mesh.CaKeyFile)));
                // The lease tables are migrated here too; the listeners open their stores when they start.
                _ = new PostgresLeaseStore(pg);
                _ = new PostgresLease6Store(pg);
                services.AddSingleton(new LeaseStoreOpeners(_ => new PostgresLeaseStore(pg), _ => new PostgresLease6Store(pg), link => new PostgresDhcpPeerHeartbeat(pg, link)));
            }
            catch (Exception e) when (e is StorageSchemaException or Npgsql.NpgsqlException)
            {
                pg.Dispose();
                throw new SettingBindException(config.Database.ConnectionStringKey, pg.Description, e.Message, e);
            }

            return pg;
        }

        var db = LiteKldloadDatabase.Open(config.Kldload.DatabasePath);
        LiteDbEkFingerprintMigration.Run(db);
        var liteNodes = new LiteDbNodeStore(db);
        services.AddSingleton<IKldloadDatabase>(db);
        services.AddSingleton<IClusterNotifications>(SingleInstanceNotifications.Instance);
        services.AddSingleton<IDatabaseHealth>(db);
        services.AddSingleton<INodeStore>(liteNodes);
        services.AddSingleton<IProfileStore>(liteNodes);
        services.AddSingleton<IHardwareFactsStore>(new LiteDbHardwareFactsStore(db));
        services.AddSingleton<IBootTokenStore>(new LiteDbBootTokenStore(db));
        services.AddSingleton<IOperatorTokenStore>(new LiteDbOperatorTokenStore(db));
        services.AddSingleton<IAttestationSessionStore>(sp => new LiteDbAttestationSessionStore(db, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRevokedEkStore>(new LiteDbRevokedEkStore(db));
        services.AddSingleton<IBmcStore>(new LiteDbBmcStore(db));
        services.AddSingleton<IRolloutStore>(new LiteDbRolloutStore(db));
        services.AddSingleton<IImageCatalogStore>(new LiteDbImageCatalogStore(db.Database));
        services.AddSingleton<IBlobLocations>(SingleInstanceBlobLocations.Instance);
        services.AddSingleton<IInstanceDirectory>(sp => new SingleInstanceDirectory(sp.GetRequiredService<InstanceIdentity>()));
        services.AddSingleton<IMeshAddressStore>(new LiteDbMeshAddressStore(db.Database));
        services.AddSingleton<IMeshRosterStore>(new LiteDbMeshRosterStore(db.Database));
        services.AddSingleton<ICaMaterialStore>(new CaDirectoryStore(Path.Combine(config.Kldload.DataDir, MeshHubHosting.CaDirectoryName)));
        services.AddSingleton(LeaseStoreOpeners.Embedded);
        return db;
    }
}
