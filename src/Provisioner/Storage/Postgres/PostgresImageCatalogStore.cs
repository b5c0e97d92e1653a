using System.Text.Json.Nodes;
using Kldload.ImageStore;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// The image catalog's records in PostgreSQL, shared by every provisioner on the database. Only the
/// catalogue is here; blobs stay content-addressed files on each instance's disk.
/// <para>
/// A change holds <c>LOCK TABLE image_manifests, image_channels IN EXCLUSIVE MODE</c> until it
/// commits: changes from every instance take turns (a promotion reads the channel and writes it
/// back, which must not interleave with another), while plain reads (the boot path's lookups) go on
/// undisturbed. Catalog changes are operator actions, rare enough for one at a time.
/// </para>
/// </summary>
public sealed class PostgresImageCatalogStore : IImageCatalogStore
{
    /// <summary>
    /// Tables of the image catalog. Digests are their 32 raw bytes; a channel's earlier versions
    /// (most recent first) are one jsonb array of <c>{"name", "version"}</c>, always read whole. The
    /// histories are ordered by their identity column.
    /// </summary>
    public static readonly PostgresSchema Schema = new("images",
    [
        """
        CREATE TABLE image_manifests (
            name text NOT NULL,
            version text NOT NULL,
            arch text NOT NULL,
            kernel bytea NOT NULL CHECK (octet_length(kernel) = 32),
            kernel_size bigint NOT NULL,
            initrd bytea NOT NULL CHECK (octet_length(initrd) = 32),
            initrd_size bigint NOT NULL,
            rootfs bytea CHECK (octet_length(rootfs) = 32),
            rootfs_size bigint,
            cmdline text NOT NULL,
            created timestamptz NOT NULL,
            notes text NOT NULL,
            kernel_authenticode bytea CHECK (octet_length(kernel_authenticode) = 32),
            PRIMARY KEY (name, version),
            CHECK ((rootfs IS NULL) = (rootfs_size IS NULL))
        );
        CREATE TABLE image_channels (
            name text PRIMARY KEY,
            current_name text NOT NULL,
            current_version text NOT NULL,
            previous jsonb NOT NULL CHECK (jsonb_typeof(previous) = 'array'),
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE image_channel_history (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            channel text NOT NULL,
            action text NOT NULL CHECK (action IN ('Promote', 'Rollback')),
            from_name text,
            from_version text,
            to_name text NOT NULL,
            to_version text NOT NULL,
            changed_by text NOT NULL,
            changed_at timestamptz NOT NULL,
            CHECK ((from_name IS NULL) = (from_version IS NULL))
        );
        CREATE INDEX image_channel_history_by_channel ON image_channel_history (channel, id);
        CREATE TABLE image_history (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            version text NOT NULL,
            action text NOT NULL CHECK (action IN ('Imported', 'Deleted')),
            changed_by text NOT NULL,
            changed_at timestamptz NOT NULL,
            source text NOT NULL
        );
        CREATE INDEX image_history_by_image ON image_history (name, version, id);
        """,
    ]);

    private const string ManifestColumns = "name, version, arch, kernel, kernel_size, initrd, initrd_size, rootfs, rootfs_size, cmdline, created, notes, kernel_authenticode";
    private const string ChannelColumns = "name, current_name, current_version, previous, updated_by, updated_at";

    private readonly PostgresKldloadDatabase _db;
    private readonly Session _reads;

    /// <summary>Opens the catalog on <paramref name="db"/>, creating or migrating its tables.</summary>
    public PostgresImageCatalogStore(PostgresKldloadDatabase db)
    {
        ArgumentNullException.ThrowIfNull(db);
        db.Migrate(Schema);
        _db = db;
        _reads = new Session(sql => db.DataSource.CreateCommand(sql));
    }

    public ImageManifest? GetManifest(ImageKey key) => _reads.GetManifest(key);

    public IReadOnlyList<ImageManifest> ListManifests() => _reads.ListManifests();

    public ChannelState? GetChannel(string name) => _reads.GetChannel(name);

    public IReadOnlyList<ChannelState> ListChannels() => _reads.ListChannels();

    public IReadOnlyList<ChannelEvent> GetChannelHistory(string channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        using var command = _db.DataSource.CreateCommand(
            "SELECT channel, action, from_name, from_version, to_name, to_version, changed_by, changed_at FROM image_channel_history WHERE channel = $1 ORDER BY id");
        Add(command, channel, NpgsqlDbType.Text);
        using var reader = command.ExecuteReader();
        var history = new List<ChannelEvent>();
        while (reader.Read())
        {
            history.Add(new ChannelEvent(
                reader.GetString(0),
                Enum.Parse<ChannelAction>(reader.GetString(1)),
                reader.IsDBNull(2) ? null : new ImageKey(reader.GetString(2), reader.GetString(3)),
                new ImageKey(reader.GetString(4), reader.GetString(5)),
                reader.GetString(6),
                reader.GetFieldValue<DateTimeOffset>(7)));
        }

        return history;
    }

    public IReadOnlyList<ImageEvent> GetImageHistory()
    {
        using var command = _db.DataSource.CreateCommand("SELECT name, version, action, changed_by, changed_at, source FROM image_history ORDER BY id");
        using var reader = command.ExecuteReader();
        var history = new List<ImageEvent>();
        while (reader.Read())
        {
            history.Add(new ImageEvent(
                new ImageKey(reader.GetString(0), reader.GetString(1)),
                Enum.Parse<ImageAction>(reader.GetString(2)),
                reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                reader.GetString(5)));
        }

        return history;
    }

    public T Change<T>(Func<IImageCatalogChange, T> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        using var connection = _db.DataSource.OpenConnection();
        // Disposed without a commit (the change threw), the transaction rolls back.
        using var transaction = connection.BeginTransaction();
        using (var lockTables = new NpgsqlCommand("LOCK TABLE image_manifests, image_channels IN EXCLUSIVE MODE", connection, transaction))
        {
            lockTables.ExecuteNonQuery();
        }

        var result = change(new Session(sql => new NpgsqlCommand(sql, connection, transaction)));
        transaction.Commit();
        return result;
    }

    /// <summary>
    /// Runs <paramref name="change"/> on the caller's transaction (<see cref="PostgresAmbientTransaction"/>)
    /// without the table lock: <c>kldload db migrate</c> writes a whole site in one transaction on a
    /// database no instance serves.
    /// </summary>
    public void Import(Action<IImageCatalogChange> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        change(new Session(sql => _db.CreateCommand(sql)));
    }

    private static void Add(NpgsqlCommand command, object? value, NpgsqlDbType type)
        => command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value, NpgsqlDbType = type });

    private static byte[] Bytes(Sha256Digest digest) => Convert.FromHexString(digest.ToString());

    private static Sha256Digest Digest(NpgsqlDataReader reader, int ordinal) => Sha256Digest.FromHash(reader.GetFieldValue<byte[]>(ordinal));

    private static string PreviousJson(IReadOnlyList<ImageKey> previous)
        => new JsonArray([.. previous.Select(k => (JsonNode)new JsonObject { ["name"] = k.Name, ["version"] = k.Version })]).ToJsonString();

    private static List<ImageKey> ReadPrevious(string json)
        => JsonNode.Parse(json)!.AsArray().Select(k => new ImageKey(k!["name"]!.GetValue<string>(), k["version"]!.GetValue<string>())).ToList();

    private static ImageManifest ReadManifest(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Version = r.GetString(1),
        Architecture = r.GetString(2),
        Kernel = Digest(r, 3),
        KernelSize = r.GetInt64(4),
        Initrd = Digest(r, 5),
        InitrdSize = r.GetInt64(6),
        Rootfs = r.IsDBNull(7) ? null : Digest(r, 7),
        RootfsSize = r.IsDBNull(8) ? null : r.GetInt64(8),
        CommandLine = r.GetString(9),
        Created = r.GetFieldValue<DateTimeOffset>(10),
        Notes = r.GetString(11),
        KernelAuthenticode = r.IsDBNull(12) ? null : Digest(r, 12),
    };

    private static ChannelState ReadChannel(NpgsqlDataReader r) => new()
    {
        Name = r.GetString(0),
        Current = new ImageKey(r.GetString(1), r.GetString(2)),
        Previous = ReadPrevious(r.GetString(3)),
        UpdatedBy = r.GetString(4),
        UpdatedAt = r.GetFieldValue<DateTimeOffset>(5),
    };

    /// <summary>
    /// The reads and writes, on commands from <paramref name="command"/>: pooled connections for the
    /// store's own reads, the change's connection and transaction inside <see cref="Change{T}"/>.
    /// </summary>
    private sealed class Session(Func<string, NpgsqlCommand> command) : IImageCatalogChange
    {
        public ImageManifest? GetManifest(ImageKey key)
        {
            ArgumentNullException.ThrowIfNull(key);
            using var c = command($"SELECT {ManifestColumns} FROM image_manifests WHERE name = $1 AND version = $2");
            Add(c, key.Name, NpgsqlDbType.Text);
            Add(c, key.Version, NpgsqlDbType.Text);
            using var reader = c.ExecuteReader();
            return reader.Read() ? ReadManifest(reader) : null;
        }

        public IReadOnlyList<ImageManifest> ListManifests()
        {
            // Collation "C" compares bytes: the ordinal order the interface promises, whatever the database's locale.
            using var c = command($"SELECT {ManifestColumns} FROM image_manifests ORDER BY name COLLATE \"C\", created, version COLLATE \"C\"");
            using var reader = c.ExecuteReader();
            var manifests = new List<ImageManifest>();
            while (reader.Read())
            {
                manifests.Add(ReadManifest(reader));
            }

            return manifests;
        }

        public ChannelState? GetChannel(string name)
        {
            ArgumentNullException.ThrowIfNull(name);
            using var c = command($"SELECT {ChannelColumns} FROM image_channels WHERE name = $1");
            Add(c, name, NpgsqlDbType.Text);
            using var reader = c.ExecuteReader();
            return reader.Read() ? ReadChannel(reader) : null;
        }

        public IReadOnlyList<ChannelState> ListChannels()
        {
            using var c = command($"SELECT {ChannelColumns} FROM image_channels ORDER BY name COLLATE \"C\"");
            using var reader = c.ExecuteReader();
            var channels = new List<ChannelState>();
            while (reader.Read())
            {
                channels.Add(ReadChannel(reader));
            }

            return channels;
        }

        public void InsertManifest(ImageManifest manifest)
        {
            ArgumentNullException.ThrowIfNull(manifest);
            // ON CONFLICT DO NOTHING keeps the transaction usable: a unique violation would abort it.
            using var c = command($"INSERT INTO image_manifests ({ManifestColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING");
            Add(c, manifest.Name, NpgsqlDbType.Text);
            Add(c, manifest.Version, NpgsqlDbType.Text);
            Add(c, manifest.Architecture, NpgsqlDbType.Text);
            Add(c, Bytes(manifest.Kernel), NpgsqlDbType.Bytea);
            Add(c, manifest.KernelSize, NpgsqlDbType.Bigint);
            Add(c, Bytes(manifest.Initrd), NpgsqlDbType.Bytea);
            Add(c, manifest.InitrdSize, NpgsqlDbType.Bigint);
            // As in LiteDB: a rootfs size is kept with a rootfs only.
            Add(c, manifest.Rootfs is { } rootfs ? Bytes(rootfs) : null, NpgsqlDbType.Bytea);
            Add(c, manifest.Rootfs is null ? null : manifest.RootfsSize ?? 0, NpgsqlDbType.Bigint);
            Add(c, manifest.CommandLine, NpgsqlDbType.Text);
            Add(c, manifest.Created.UtcDateTime, NpgsqlDbType.TimestampTz);
            Add(c, manifest.Notes, NpgsqlDbType.Text);
            Add(c, manifest.KernelAuthenticode is { } a ? Bytes(a) : null, NpgsqlDbType.Bytea);
            if (c.ExecuteNonQuery() == 0)
            {
                throw new ImageCatalogException($"image {manifest.Key} already exists");
            }
        }

        public bool DeleteManifest(ImageKey key)
        {
            ArgumentNullException.ThrowIfNull(key);
            using var c = command("DELETE FROM image_manifests WHERE name = $1 AND version = $2");
            Add(c, key.Name, NpgsqlDbType.Text);
            Add(c, key.Version, NpgsqlDbType.Text);
            return c.ExecuteNonQuery() > 0;
        }

        public void PutChannel(ChannelState channel)
        {
            ArgumentNullException.ThrowIfNull(channel);
            using var c = command(
                $"""
                INSERT INTO image_channels ({ChannelColumns}) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (name) DO UPDATE SET current_name = EXCLUDED.current_name, current_version = EXCLUDED.current_version,
                    previous = EXCLUDED.previous, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
                """);
            Add(c, channel.Name, NpgsqlDbType.Text);
            Add(c, channel.Current.Name, NpgsqlDbType.Text);
            Add(c, channel.Current.Version, NpgsqlDbType.Text);
            Add(c, PreviousJson(channel.Previous), NpgsqlDbType.Jsonb);
            Add(c, channel.UpdatedBy, NpgsqlDbType.Text);
            Add(c, channel.UpdatedAt.UtcDateTime, NpgsqlDbType.TimestampTz);
            c.ExecuteNonQuery();
        }

        public void AppendChannelEvent(ChannelEvent change)
        {
            ArgumentNullException.ThrowIfNull(change);
            using var c = command(
                "INSERT INTO image_channel_history (channel, action, from_name, from_version, to_name, to_version, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
            Add(c, change.Channel, NpgsqlDbType.Text);
            Add(c, change.Action.ToString(), NpgsqlDbType.Text);
            Add(c, change.From?.Name, NpgsqlDbType.Text);
            Add(c, change.From?.Version, NpgsqlDbType.Text);
            Add(c, change.To.Name, NpgsqlDbType.Text);
            Add(c, change.To.Version, NpgsqlDbType.Text);
            Add(c, change.By, NpgsqlDbType.Text);
            Add(c, change.At.UtcDateTime, NpgsqlDbType.TimestampTz);
            c.ExecuteNonQuery();
        }

        public void AppendImageEvent(ImageEvent change)
        {
            ArgumentNullException.ThrowIfNull(change);
            using var c = command("INSERT INTO image_history (name, version, action, changed_by, changed_at, source) VALUES ($1, $2, $3, $4, $5, $6)");
            Add(c, change.Image.Name, NpgsqlDbType.Text);
            Add(c, change.Image.Version, NpgsqlDbType.Text);
            Add(c, change.Action.ToString(), NpgsqlDbType.Text);
            Add(c, change.By, NpgsqlDbType.Text);
            Add(c, change.At.UtcDateTime, NpgsqlDbType.TimestampTz);
            Add(c, change.Source, NpgsqlDbType.Text);
            c.ExecuteNonQuery();
        }
    }
}
