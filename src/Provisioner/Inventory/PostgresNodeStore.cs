using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Npgsql;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// Nodes, events and profiles in PostgreSQL (tables <c>nodes</c>, <c>node_events</c>, <c>profiles</c>).
/// A node is one row of typed columns; what is only ever read whole (pinned image, relay location,
/// labels, PCR maps) is <c>jsonb</c>. Every lookup of the boot and attestation path is an index lookup:
/// MAC by the GIN index on <c>macs</c>, UUID, name, EK fingerprint and state by b-tree indexes.
/// <see cref="InTransaction"/> is the database's ambient transaction
/// (<see cref="PostgresAmbientTransaction"/>), which the other stores of the database join.
/// </summary>
public sealed class PostgresNodeStore : INodeStore, IProfileStore
{
    /// <summary>The tables, as migrations of component <c>inventory</c>.</summary>
    public static readonly PostgresSchema Schema = new("inventory",
    [
        """
        CREATE TABLE nodes (
            id text PRIMARY KEY,
            name text NOT NULL,
            macs text[] NOT NULL,
            uuid text,
            serial text,
            manufacturer text,
            product text,
            architecture text,
            platform text,
            ek_public text,
            ek_fingerprint text,
            ek_certificate text,
            ek_approved boolean NOT NULL,
            ak_public text,
            wireguard_public_key text,
            mesh_address text,
            mesh_address4 text,
            profile text,
            burn_in_seconds integer,
            channel text,
            pinned_image jsonb,
            state text NOT NULL,
            state_reason text,
            first_seen_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            boot_started_at timestamptz,
            last_boot_at timestamptz,
            last_boot_to_mesh_seconds double precision,
            last_booted_image jsonb,
            last_booted_kernel_digest text,
            last_attested_image_digest text,
            kernel_measured boolean,
            command_line_measured boolean,
            secure_boot boolean,
            secure_boot_signers text[],
            initrd_measured boolean,
            pinned_pcrs jsonb,
            configuration_pcrs jsonb,
            hardware_facts text,
            hardware_facts_bound boolean NOT NULL,
            hardware_facts_at timestamptz,
            location jsonb,
            labels jsonb NOT NULL,
            replaced_by text,
            replaces text,
            repin_pending boolean NOT NULL,
            epoch bigint NOT NULL,
            mesh_identity text,
            power_state text,
            power_state_at timestamptz
        );
        CREATE INDEX nodes_macs ON nodes USING gin (macs);
        CREATE INDEX nodes_uuid ON nodes (uuid);
        CREATE INDEX nodes_name ON nodes (name);
        CREATE INDEX nodes_ek_fingerprint ON nodes (ek_fingerprint);
        CREATE INDEX nodes_state ON nodes (state);
        CREATE INDEX nodes_stale_discovered ON nodes (last_seen_at) WHERE state = 'Discovered' AND ek_fingerprint IS NULL;

        CREATE TABLE node_events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            node_id text NOT NULL,
            at timestamptz NOT NULL,
            kind text NOT NULL,
            message text NOT NULL,
            actor text NOT NULL,
            reason text
        );
        CREATE INDEX node_events_node ON node_events (node_id, id);

        CREATE TABLE profiles (
            name text PRIMARY KEY,
            priority integer NOT NULL,
            match jsonb NOT NULL,
            channel text,
            image jsonb,
            kernel_args text,
            loader text,
            require_secure_boot boolean,
            enrollment_policy text,
            commission jsonb
        );
        """,
        "ALTER TABLE profiles ADD COLUMN install jsonb;",
    ]);

    // Hardware facts stay text, not jsonb: they are RFC 8785 canonical JSON whose exact bytes a quote bound.
    private static readonly string[] NodeColumnNames =
    [
        "id", "name", "macs", "uuid", "serial", "manufacturer", "product", "architecture", "platform",
        "ek_public", "ek_fingerprint", "ek_certificate", "ek_approved", "ak_public", "wireguard_public_key",
        "mesh_address", "mesh_address4", "profile", "burn_in_seconds", "channel", "pinned_image", "state",
        "state_reason", "first_seen_at", "last_seen_at", "boot_started_at", "last_boot_at",
        "last_boot_to_mesh_seconds", "last_booted_image", "last_booted_kernel_digest",
        "last_attested_image_digest", "kernel_measured", "command_line_measured", "secure_boot",
        "secure_boot_signers", "initrd_measured", "pinned_pcrs", "configuration_pcrs", "hardware_facts",
        "hardware_facts_bound", "hardware_facts_at", "location", "labels", "replaced_by", "replaces",
        "repin_pending", "epoch", "mesh_identity", "power_state", "power_state_at",
    ];

    private static readonly string NodeColumns = string.Join(", ", NodeColumnNames);

    private static readonly string UpsertNode =
        $"INSERT INTO nodes ({NodeColumns}) VALUES ({string.Join(", ", NodeColumnNames.Select(c => "@" + c))}) "
        + $"ON CONFLICT (id) DO UPDATE SET {string.Join(", ", NodeColumnNames.Skip(1).Select(c => $"{c} = EXCLUDED.{c}"))}";

    // The lookups of the boot and attestation path, named so that a test can ask the planner about each.
    internal static readonly string SelectById = $"SELECT {NodeColumns} FROM nodes WHERE id = @id";

    internal static readonly string SelectByMac =
        $"SELECT {NodeColumns} FROM nodes WHERE macs @> ARRAY[@mac] ORDER BY state = 'Replaced', last_seen_at DESC LIMIT 1";

    internal static readonly string SelectByUuid = $"SELECT {NodeColumns} FROM nodes WHERE uuid = @uuid ORDER BY id LIMIT 1";

    internal static readonly string SelectByName = $"SELECT {NodeColumns} FROM nodes WHERE name = @name ORDER BY id LIMIT 1";

    internal static readonly string SelectByEkFingerprint = $"SELECT {NodeColumns} FROM nodes WHERE ek_fingerprint = @fingerprint ORDER BY id";

    internal const string CountByState = "SELECT count(*) FROM nodes WHERE state = @state";

    private const string EventColumns = "id, node_id, at, kind, message, actor, reason";

    private const string ProfileColumns = "name, priority, match, channel, image, kernel_args, loader, require_secure_boot, enrollment_policy, commission, install";

    private readonly PostgresKldloadDatabase _db;

    public PostgresNodeStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _db = database;
    }

    public NodeRecord? Get(string id)
    {
        using var command = _db.CreateCommand(SelectById);
        command.Parameters.Add(Text("id", id));
        return ReadNodes(command).SingleOrDefault();
    }

    /// <summary>The live record with this MAC: a Replaced record only when no other has the MAC.</summary>
    public NodeRecord? FindByMac(string mac)
    {
        using var command = _db.CreateCommand(SelectByMac);
        command.Parameters.Add(Text("mac", mac));
        return ReadNodes(command).SingleOrDefault();
    }

    public NodeRecord? FindByUuid(string uuid)
    {
        using var command = _db.CreateCommand(SelectByUuid);
        command.Parameters.Add(Text("uuid", uuid));
        return ReadNodes(command).SingleOrDefault();
    }

    public NodeRecord? FindByName(string name)
    {
        using var command = _db.CreateCommand(SelectByName);
        command.Parameters.Add(Text("name", name));
        return ReadNodes(command).SingleOrDefault();
    }

    public int Count(NodeState state)
    {
        using var command = _db.CreateCommand(CountByState);
        command.Parameters.Add(Text("state", state.ToString()));
        return checked((int)(long)command.ExecuteScalar()!);
    }

    public int DeleteStaleDiscovered(DateTime before, int limit)
    {
        // The predicate repeats the partial index's word for word, so the sweep is an index range scan.
        using var command = _db.CreateCommand(
            """
            WITH stale AS (
                SELECT id FROM nodes
                WHERE state = 'Discovered' AND ek_fingerprint IS NULL AND last_seen_at < @before AND first_seen_at < @before
                LIMIT @limit
            ), history AS (
                DELETE FROM node_events WHERE node_id IN (SELECT id FROM stale)
            )
            DELETE FROM nodes WHERE id IN (SELECT id FROM stale)
            """);
        command.Parameters.Add(Time("before", before));
        command.Parameters.Add(Integer("limit", Math.Max(0, limit)));
        return command.ExecuteNonQuery();
    }

    public T InTransaction<T>(Func<T> work) => _db.InTransaction(work);

    public IReadOnlyList<NodeRecord> FindByEkFingerprint(string fingerprint)
    {
        using var command = _db.CreateCommand(SelectByEkFingerprint);
        command.Parameters.Add(Text("fingerprint", fingerprint));
        return ReadNodes(command);
    }

    public IReadOnlyList<NodeRecord> List()
    {
        using var command = _db.CreateCommand($"SELECT {NodeColumns} FROM nodes ORDER BY name COLLATE \"C\", id COLLATE \"C\"");
        return ReadNodes(command);
    }

    public void Upsert(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        using var command = _db.CreateCommand(UpsertNode);
        BindNode(command, node);
        command.ExecuteNonQuery();
    }

    public NodeEvent Append(NodeEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        using var command = _db.CreateCommand(
            "INSERT INTO node_events (node_id, at, kind, message, actor, reason) VALUES (@node_id, @at, @kind, @message, @actor, @reason) RETURNING id");
        command.Parameters.Add(Text("node_id", e.NodeId));
        command.Parameters.Add(Time("at", e.At));
        command.Parameters.Add(Text("kind", e.Kind.ToString()));
        command.Parameters.Add(Text("message", e.Message));
        command.Parameters.Add(Text("actor", e.Actor));
        command.Parameters.Add(Text("reason", e.Reason));
        e.Id = (long)command.ExecuteScalar()!;
        return e;
    }

    public IReadOnlyList<NodeEvent> Events(string nodeId)
    {
        using var command = _db.CreateCommand($"SELECT {EventColumns} FROM node_events WHERE node_id = @node_id ORDER BY id");
        command.Parameters.Add(Text("node_id", nodeId));
        return ReadEvents(command);
    }

    public IReadOnlyList<NodeEvent> EventsAfter(long afterId, int limit)
    {
        using var command = _db.CreateCommand($"SELECT {EventColumns} FROM node_events WHERE id > @after ORDER BY id LIMIT @limit");
        command.Parameters.Add(Bigint("after", afterId));
        command.Parameters.Add(Integer("limit", Math.Max(0, limit)));
        return ReadEvents(command);
    }

    /// <summary>
    /// Writes events keeping their ids and order (<c>kldload db migrate</c>), then moves the id sequence
    /// past them, so the next <see cref="Append"/> continues after the copied history.
    /// </summary>
    public void ImportEvents(IEnumerable<NodeEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        foreach (var e in events)
        {
            using var command = _db.CreateCommand(
                $"INSERT INTO node_events ({EventColumns}) OVERRIDING SYSTEM VALUE VALUES (@id, @node_id, @at, @kind, @message, @actor, @reason)");
            command.Parameters.Add(Bigint("id", e.Id));
            command.Parameters.Add(Text("node_id", e.NodeId));
            command.Parameters.Add(Time("at", e.At));
            command.Parameters.Add(Text("kind", e.Kind.ToString()));
            command.Parameters.Add(Text("message", e.Message));
            command.Parameters.Add(Text("actor", e.Actor));
            command.Parameters.Add(Text("reason", e.Reason));
            command.ExecuteNonQuery();
        }

        using var sequence = _db.CreateCommand("SELECT setval(pg_get_serial_sequence('node_events', 'id'), COALESCE((SELECT max(id) FROM node_events), 0) + 1, false)");
        sequence.ExecuteScalar();
    }

    IReadOnlyList<Profile> IProfileStore.List()
    {
        using var command = _db.CreateCommand($"SELECT {ProfileColumns} FROM profiles ORDER BY priority DESC, name COLLATE \"C\"");
        return ReadProfiles(command);
    }

    Profile? IProfileStore.Get(string name)
    {
        using var command = _db.CreateCommand($"SELECT {ProfileColumns} FROM profiles WHERE name = @name");
        command.Parameters.Add(Text("name", name));
        return ReadProfiles(command).SingleOrDefault();
    }

    void IProfileStore.Upsert(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        using var command = _db.CreateCommand(
            $"""
            INSERT INTO profiles ({ProfileColumns})
            VALUES (@name, @priority, @match, @channel, @image, @kernel_args, @loader, @require_secure_boot, @enrollment_policy, @commission, @install)
            ON CONFLICT (name) DO UPDATE SET priority = EXCLUDED.priority, match = EXCLUDED.match, channel = EXCLUDED.channel,
                image = EXCLUDED.image, kernel_args = EXCLUDED.kernel_args, loader = EXCLUDED.loader,
                require_secure_boot = EXCLUDED.require_secure_boot, enrollment_policy = EXCLUDED.enrollment_policy,
                commission = EXCLUDED.commission, install = EXCLUDED.install
            """);
        var p = command.Parameters;
        p.Add(Text("name", profile.Name));
        p.Add(Integer("priority", profile.Priority));
        p.Add(Jsonb("match", profile.Match));
        p.Add(Text("channel", profile.Channel));
        p.Add(Jsonb("image", profile.Image));
        p.Add(Text("kernel_args", profile.KernelArgs));
        p.Add(Text("loader", profile.Loader?.ToString()));
        p.Add(Boolean("require_secure_boot", profile.RequireSecureBoot));
        p.Add(Text("enrollment_policy", profile.EnrollmentPolicy));
        p.Add(Jsonb("commission", profile.Commission));
        p.Add(Jsonb("install", profile.Install));
        command.ExecuteNonQuery();
    }

    bool IProfileStore.Delete(string name)
    {
        using var command = _db.CreateCommand("DELETE FROM profiles WHERE name = @name");
        command.Parameters.Add(Text("name", name));
        return command.ExecuteNonQuery() > 0;
    }

    /// <summary>Binds every column of <see cref="NodeColumnNames"/>; the derived mesh identity is not stored.</summary>
    private static void BindNode(NpgsqlCommand command, NodeRecord n)
    {
        var p = command.Parameters;
        p.Add(Text("id", n.Id));
        p.Add(Text("name", n.Name));
        p.Add(TextArray("macs", n.Macs ?? []));
        p.Add(Text("uuid", n.Uuid));
        p.Add(Text("serial", n.Serial));
        p.Add(Text("manufacturer", n.Manufacturer));
        p.Add(Text("product", n.Product));
        p.Add(Text("architecture", n.Architecture));
        p.Add(Text("platform", n.Platform));
        p.Add(Text("ek_public", n.EkPublic));
        p.Add(Text("ek_fingerprint", n.EkFingerprint));
        p.Add(Text("ek_certificate", n.EkCertificate));
        p.Add(Boolean("ek_approved", n.EkApproved));
        p.Add(Text("ak_public", n.AkPublic));
        p.Add(Text("wireguard_public_key", n.WireGuardPublicKey));
        p.Add(Text("mesh_address", n.MeshAddress));
        p.Add(Text("mesh_address4", n.MeshAddress4));
        p.Add(Text("profile", n.Profile));
        p.Add(Integer("burn_in_seconds", n.BurnInSeconds));
        p.Add(Text("channel", n.Channel));
        p.Add(Jsonb("pinned_image", n.PinnedImage));
        p.Add(Text("state", n.State.ToString()));
        p.Add(Text("state_reason", n.StateReason));
        p.Add(Time("first_seen_at", n.FirstSeenAt));
        p.Add(Time("last_seen_at", n.LastSeenAt));
        p.Add(Time("boot_started_at", n.BootStartedAt));
        p.Add(Time("last_boot_at", n.LastBootAt));
        p.Add(Double("last_boot_to_mesh_seconds", n.LastBootToMeshSeconds));
        p.Add(Jsonb("last_booted_image", n.LastBootedImage));
        p.Add(Text("last_booted_kernel_digest", n.LastBootedKernelDigest));
        p.Add(Text("last_attested_image_digest", n.LastAttestedImageDigest));
        p.Add(Boolean("kernel_measured", n.KernelMeasured));
        p.Add(Boolean("command_line_measured", n.CommandLineMeasured));
        p.Add(Boolean("secure_boot", n.SecureBoot));
        p.Add(TextArray("secure_boot_signers", n.SecureBootSigners));
        p.Add(Boolean("initrd_measured", n.InitrdMeasured));
        p.Add(Jsonb("pinned_pcrs", n.PinnedPcrs));
        p.Add(Jsonb("configuration_pcrs", n.ConfigurationPcrs));
        p.Add(Text("hardware_facts", n.HardwareFacts));
        p.Add(Boolean("hardware_facts_bound", n.HardwareFactsBound));
        p.Add(Time("hardware_facts_at", n.HardwareFactsAt));
        p.Add(Jsonb("location", n.Location));
        p.Add(Jsonb("labels", n.Labels ?? []));
        p.Add(Text("replaced_by", n.ReplacedBy));
        p.Add(Text("replaces", n.Replaces));
        p.Add(Boolean("repin_pending", n.RepinPending));
        p.Add(Bigint("epoch", n.Epoch));
        p.Add(Text("mesh_identity", n.MeshIdentity));
        p.Add(Text("power_state", n.PowerState));
        p.Add(Time("power_state_at", n.PowerStateAt));
    }

    /// <summary>Reads rows of <see cref="NodeColumns"/>, in its order.</summary>
    private static List<NodeRecord> ReadNodes(NpgsqlCommand command)
    {
        using var r = command.ExecuteReader();
        var nodes = new List<NodeRecord>();
        while (r.Read())
        {
            var i = 0;
            nodes.Add(new NodeRecord
            {
                Id = r.GetString(i++),
                Name = r.GetString(i++),
                Macs = r.NullableTextList(i++) ?? [],
                Uuid = r.NullableText(i++),
                Serial = r.NullableText(i++),
                Manufacturer = r.NullableText(i++),
                Product = r.NullableText(i++),
                Architecture = r.NullableText(i++),
                Platform = r.NullableText(i++),
                EkPublic = r.NullableText(i++),
                EkFingerprint = r.NullableText(i++),
                EkCertificate = r.NullableText(i++),
                EkApproved = r.GetBoolean(i++),
                AkPublic = r.NullableText(i++),
                WireGuardPublicKey = r.NullableText(i++),
                MeshAddress = r.NullableText(i++),
                MeshAddress4 = r.NullableText(i++),
                Profile = r.NullableText(i++),
                BurnInSeconds = r.Nullable<int>(i++),
                Channel = r.NullableText(i++),
                PinnedImage = r.FromJsonb<ImageRef>(i++),
                State = Enum.Parse<NodeState>(r.GetString(i++)),
                StateReason = r.NullableText(i++),
                FirstSeenAt = r.UtcTime(i++),
                LastSeenAt = r.UtcTime(i++),
                BootStartedAt = r.NullableUtcTime(i++),
                LastBootAt = r.NullableUtcTime(i++),
                LastBootToMeshSeconds = r.Nullable<double>(i++),
                LastBootedImage = r.FromJsonb<ImageRef>(i++),
                LastBootedKernelDigest = r.NullableText(i++),
                LastAttestedImageDigest = r.NullableText(i++),
                KernelMeasured = r.Nullable<bool>(i++),
                CommandLineMeasured = r.Nullable<bool>(i++),
                SecureBoot = r.Nullable<bool>(i++),
                SecureBootSigners = r.NullableTextList(i++),
                InitrdMeasured = r.Nullable<bool>(i++),
                PinnedPcrs = r.FromJsonb<Dictionary<int, string>>(i++),
                ConfigurationPcrs = r.FromJsonb<Dictionary<int, string>>(i++),
                HardwareFacts = r.NullableText(i++),
                HardwareFactsBound = r.GetBoolean(i++),
                HardwareFactsAt = r.NullableUtcTime(i++),
                Location = r.FromJsonb<RelayLocation>(i++),
                Labels = r.FromJsonb<Dictionary<string, string>>(i++) ?? [],
                ReplacedBy = r.NullableText(i++),
                Replaces = r.NullableText(i++),
                RepinPending = r.GetBoolean(i++),
                Epoch = checked((uint)r.GetInt64(i++)),
                MeshIdentity = r.NullableText(i++),
                PowerState = r.NullableText(i++),
                PowerStateAt = r.NullableUtcTime(i++),
            });
        }

        return nodes;
    }

    private static List<NodeEvent> ReadEvents(NpgsqlCommand command)
    {
        using var r = command.ExecuteReader();
        var events = new List<NodeEvent>();
        while (r.Read())
        {
            events.Add(new NodeEvent
            {
                Id = r.GetInt64(0),
                NodeId = r.GetString(1),
                At = r.UtcTime(2),
                Kind = Enum.Parse<NodeEventKind>(r.GetString(3)),
                Message = r.GetString(4),
                Actor = r.GetString(5),
                Reason = r.NullableText(6),
            });
        }

        return events;
    }

    private static List<Profile> ReadProfiles(NpgsqlCommand command)
    {
        using var r = command.ExecuteReader();
        var profiles = new List<Profile>();
        while (r.Read())
        {
            profiles.Add(new Profile
            {
                Name = r.GetString(0),
                Priority = r.GetInt32(1),
                Match = r.FromJsonb<ProfileMatch>(2) ?? new(),
                Channel = r.NullableText(3),
                Image = r.FromJsonb<ImageRef>(4),
                KernelArgs = r.NullableText(5),
                Loader = r.IsDBNull(6) ? null : Enum.Parse<BootLoaderKind>(r.GetString(6)),
                RequireSecureBoot = r.Nullable<bool>(7),
                EnrollmentPolicy = r.NullableText(8),
                Commission = r.FromJsonb<Commission>(9),
                Install = r.FromJsonb<ProfileInstall>(10),
            });
        }

        return profiles;
    }
}
