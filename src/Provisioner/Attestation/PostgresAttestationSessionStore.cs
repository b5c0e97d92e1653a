using System.Text.Json;
using System.Text.Json.Serialization;
using Kldload.Provisioner.Storage;
using Npgsql;
using NpgsqlTypes;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Attestation sessions in PostgreSQL, table <c>attestation_sessions</c>: one row per session, keyed by
/// id (the primary key: every step's lookup is an index lookup). <see cref="Take"/> is one conditional
/// <c>UPDATE ... RETURNING</c>, so of two requests, on one instance or on two, only one moves a session
/// on. The sweep goes by the index on <c>expires_at</c>; closing a node's sessions by partial indexes
/// over the open ones.
/// </summary>
public sealed class PostgresAttestationSessionStore : IAttestationSessionStore
{
    /// <summary>The table, as migrations of component <c>attestation_sessions</c>.</summary>
    public static readonly PostgresSchema Schema = new("attestation_sessions",
    [
        """
        CREATE TABLE attestation_sessions (
            id text PRIMARY KEY,
            node_id text NOT NULL,
            boot_token text NOT NULL,
            mac text NOT NULL,
            nonce bytea NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            state text NOT NULL,
            secret bytea,
            ek_public bytea,
            ek_fingerprint text,
            ek_certificate bytea,
            ak_public bytea,
            wireguard_public_key bytea,
            kernel_measured boolean,
            ek_accepted boolean NOT NULL,
            outcome text NOT NULL,
            outcome_reason text,
            outcome_detail text,
            command_line_measured boolean NOT NULL,
            secure_boot boolean,
            secure_boot_signers text[],
            initrd_measured boolean NOT NULL,
            firmware_pcrs jsonb,
            configuration_pcrs jsonb,
            drift text,
            facts text,
            facts_bound boolean NOT NULL,
            resolved_node_id text,
            closed_because text
        );
        CREATE INDEX attestation_sessions_expires_at ON attestation_sessions (expires_at);
        CREATE INDEX attestation_sessions_open_by_node ON attestation_sessions (node_id) WHERE state IN ('Challenged', 'Quoted');
        CREATE INDEX attestation_sessions_open_by_ek ON attestation_sessions (ek_fingerprint) WHERE state IN ('Challenged', 'Quoted');
        """,
        """
        CREATE INDEX attestation_sessions_proven_by_ek ON attestation_sessions (ek_fingerprint, created_at) WHERE state = 'Activated';
        """,
    ]);

    // Facts stay text, not jsonb: they are RFC 8785 canonical JSON whose exact bytes the quote bound.
    private const string Columns =
        "id, node_id, boot_token, mac, nonce, created_at, expires_at, state, secret, ek_public, ek_fingerprint, ek_certificate, "
        + "ak_public, wireguard_public_key, kernel_measured, ek_accepted, outcome, outcome_reason, outcome_detail, command_line_measured, "
        + "secure_boot, secure_boot_signers, initrd_measured, firmware_pcrs, configuration_pcrs, drift, facts, facts_bound, resolved_node_id, closed_because";

    private const string Values =
        "@id, @node_id, @boot_token, @mac, @nonce, @created_at, @expires_at, @state, @secret, @ek_public, @ek_fingerprint, @ek_certificate, "
        + "@ak_public, @wireguard_public_key, @kernel_measured, @ek_accepted, @outcome, @outcome_reason, @outcome_detail, @command_line_measured, "
        + "@secure_boot, @secure_boot_signers, @initrd_measured, @firmware_pcrs, @configuration_pcrs, @drift, @facts, @facts_bound, @resolved_node_id, @closed_because";

    private const string Assignments =
        "node_id = @node_id, boot_token = @boot_token, mac = @mac, nonce = @nonce, created_at = @created_at, expires_at = @expires_at, "
        + "state = @state, secret = @secret, ek_public = @ek_public, ek_fingerprint = @ek_fingerprint, ek_certificate = @ek_certificate, "
        + "ak_public = @ak_public, wireguard_public_key = @wireguard_public_key, kernel_measured = @kernel_measured, ek_accepted = @ek_accepted, "
        + "outcome = @outcome, outcome_reason = @outcome_reason, outcome_detail = @outcome_detail, command_line_measured = @command_line_measured, "
        + "secure_boot = @secure_boot, secure_boot_signers = @secure_boot_signers, initrd_measured = @initrd_measured, firmware_pcrs = @firmware_pcrs, "
        + "configuration_pcrs = @configuration_pcrs, drift = @drift, facts = @facts, facts_bound = @facts_bound, "
        + "resolved_node_id = @resolved_node_id, closed_because = @closed_because";

    // The lookups, named so a test can ask PostgreSQL to plan them: each must use an index.

    internal const string FindSql = $"SELECT {Columns} FROM attestation_sessions WHERE id = @id AND state = @state AND expires_at > @now";

    internal const string TakeSql = $"UPDATE attestation_sessions SET state = @next WHERE id = @id AND state = @state AND expires_at > @now RETURNING {Columns}";

    /// <summary>The state list repeats the partial indexes' predicate word for word, so the planner can use them.</summary>
    internal const string CloseForSql =
        """
        UPDATE attestation_sessions SET state = 'Failed', secret = NULL, closed_because = @why
        WHERE state IN ('Challenged', 'Quoted') AND (node_id = @node_id OR ek_fingerprint = @ek_fingerprint)
        """;

    /// <summary>The state repeats the partial index's predicate word for word, so the planner can use it.</summary>
    internal const string LastProvenSql =
        $"""
        SELECT {Columns} FROM attestation_sessions
        WHERE ek_fingerprint = @ek_fingerprint AND state = 'Activated' AND resolved_node_id = @node_id
        ORDER BY created_at DESC LIMIT 1
        """;

    internal const string DeleteExpiredSql = "DELETE FROM attestation_sessions WHERE expires_at < @cutoff";

    private readonly PostgresKldloadDatabase _data;
    private readonly TimeProvider _time;

    public PostgresAttestationSessionStore(PostgresKldloadDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(time);
        database.Migrate(Schema);
        _data = database;
        _time = time;
    }

    public AttestationSession Open(string nodeId, string token, string mac, TimeSpan lifetime)
    {
        var session = AttestationSession.Challenge(nodeId, token, mac, Now, lifetime);
        using var command = _data.CreateCommand($"INSERT INTO attestation_sessions ({Columns}) VALUES ({Values})");
        Bind(command, session);
        command.ExecuteNonQuery();
        return session;
    }

    public int DeleteExpired()
    {
        using var command = _data.CreateCommand(DeleteExpiredSql);
        command.Parameters.Add(Time("cutoff", Now - TimeSpan.FromDays(1)));
        return command.ExecuteNonQuery();
    }

    public AttestationSession? Find(string? id, AttestationSessionState expected)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64)
        {
            return null;
        }

        using var command = _data.CreateCommand(FindSql);
        command.Parameters.Add(Text("id", id));
        command.Parameters.Add(Text("state", expected.ToString()));
        command.Parameters.Add(Time("now", Now));
        return ReadOne(command);
    }

    public AttestationSession? Take(string? id, AttestationSessionState expected, AttestationSessionState next)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64)
        {
            return null;
        }

        using var command = _data.CreateCommand(TakeSql);
        command.Parameters.Add(Text("next", next.ToString()));
        command.Parameters.Add(Text("id", id));
        command.Parameters.Add(Text("state", expected.ToString()));
        command.Parameters.Add(Time("now", Now));
        return ReadOne(command);
    }

    public void Save(AttestationSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var command = _data.CreateCommand($"UPDATE attestation_sessions SET {Assignments} WHERE id = @id");
        Bind(command, session);
        command.ExecuteNonQuery();
    }

    /// <summary>Every session, whatever its state: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<AttestationSession> All()
    {
        using var command = _data.CreateCommand($"SELECT {Columns} FROM attestation_sessions ORDER BY id");
        using var r = command.ExecuteReader();
        var sessions = new List<AttestationSession>();
        while (r.Read())
        {
            sessions.Add(Read(r));
        }

        return sessions;
    }

    /// <summary>Writes a session as it is (<c>kldload db migrate</c>): <see cref="Open"/> makes a new one.</summary>
    public void Import(AttestationSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        using var command = _data.CreateCommand($"INSERT INTO attestation_sessions ({Columns}) VALUES ({Values})");
        Bind(command, session);
        command.ExecuteNonQuery();
    }

    public AttestationSession? LastProven(string nodeId, string ekFingerprint)
    {
        using var command = _data.CreateCommand(LastProvenSql);
        command.Parameters.Add(Text("ek_fingerprint", ekFingerprint));
        command.Parameters.Add(Text("node_id", nodeId));
        return ReadOne(command);
    }

    public int CloseFor(string nodeId, string? ekFingerprint, string why)
    {
        using var command = _data.CreateCommand(CloseForSql);
        command.Parameters.Add(Text("why", why));
        command.Parameters.Add(Text("node_id", nodeId));
        command.Parameters.Add(Text("ek_fingerprint", ekFingerprint));
        return command.ExecuteNonQuery();
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    private static void Bind(NpgsqlCommand command, AttestationSession s)
    {
        var p = command.Parameters;
        p.Add(Text("id", s.Id));
        p.Add(Text("node_id", s.NodeId));
        p.Add(Text("boot_token", s.BootToken));
        p.Add(Text("mac", s.Mac));
        p.Add(Bytes("nonce", s.Nonce));
        p.Add(Time("created_at", s.CreatedAt));
        p.Add(Time("expires_at", s.ExpiresAt));
        p.Add(Text("state", s.State.ToString()));
        p.Add(Bytes("secret", s.Secret));
        p.Add(Bytes("ek_public", s.EkPublic));
        p.Add(Text("ek_fingerprint", s.EkFingerprint));
        p.Add(Bytes("ek_certificate", s.EkCertificate));
        p.Add(Bytes("ak_public", s.AkPublic));
        p.Add(Bytes("wireguard_public_key", s.WireGuardPublicKey));
        p.Add(Boolean("kernel_measured", s.KernelMeasured));
        p.Add(Boolean("ek_accepted", s.EkAccepted));
        p.Add(Text("outcome", s.Outcome.ToString()));
        p.Add(Text("outcome_reason", s.OutcomeReason));
        p.Add(Text("outcome_detail", s.OutcomeDetail));
        p.Add(Boolean("command_line_measured", s.CommandLineMeasured));
        p.Add(Boolean("secure_boot", s.SecureBoot));
        p.Add(TextArray("secure_boot_signers", s.SecureBootSigners));
        p.Add(Boolean("initrd_measured", s.InitrdMeasured));
        p.Add(Json("firmware_pcrs", s.FirmwarePcrs));
        p.Add(Json("configuration_pcrs", s.ConfigurationPcrs));
        p.Add(Text("drift", s.Drift));
        p.Add(Text("facts", s.Facts));
        p.Add(Boolean("facts_bound", s.FactsBound));
        p.Add(Text("resolved_node_id", s.ResolvedNodeId));
        p.Add(Text("closed_because", s.ClosedBecause));
    }

    private static AttestationSession? ReadOne(NpgsqlCommand command)
    {
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>A row in the order of <see cref="Columns"/>.</summary>
    private static AttestationSession Read(NpgsqlDataReader r) => new()
    {
        Id = r.GetString(0),
        NodeId = r.GetString(1),
        BootToken = r.GetString(2),
        Mac = r.GetString(3),
        Nonce = r.GetFieldValue<byte[]>(4),
        CreatedAt = r.GetDateTime(5),
        ExpiresAt = r.GetDateTime(6),
        State = Enum.Parse<AttestationSessionState>(r.GetString(7)),
        Secret = r.IsDBNull(8) ? null : r.GetFieldValue<byte[]>(8),
        EkPublic = r.IsDBNull(9) ? null : r.GetFieldValue<byte[]>(9),
        EkFingerprint = r.IsDBNull(10) ? null : r.GetString(10),
        EkCertificate = r.IsDBNull(11) ? null : r.GetFieldValue<byte[]>(11),
        AkPublic = r.IsDBNull(12) ? null : r.GetFieldValue<byte[]>(12),
        WireGuardPublicKey = r.IsDBNull(13) ? null : r.GetFieldValue<byte[]>(13),
        KernelMeasured = r.IsDBNull(14) ? null : r.GetBoolean(14),
        EkAccepted = r.GetBoolean(15),
        Outcome = Enum.Parse<AttestationOutcome>(r.GetString(16)),
        OutcomeReason = r.IsDBNull(17) ? null : r.GetString(17),
        OutcomeDetail = r.IsDBNull(18) ? null : r.GetString(18),
        CommandLineMeasured = r.GetBoolean(19),
        SecureBoot = r.IsDBNull(20) ? null : r.GetBoolean(20),
        SecureBootSigners = r.IsDBNull(21) ? null : [.. r.GetFieldValue<string[]>(21)],
        InitrdMeasured = r.GetBoolean(22),
        FirmwarePcrs = r.IsDBNull(23) ? null : Pcrs(r.GetString(23)),
        ConfigurationPcrs = r.IsDBNull(24) ? null : Pcrs(r.GetString(24)),
        Drift = r.IsDBNull(25) ? null : r.GetString(25),
        Facts = r.IsDBNull(26) ? null : r.GetString(26),
        FactsBound = r.GetBoolean(27),
        ResolvedNodeId = r.IsDBNull(28) ? null : r.GetString(28),
        ClosedBecause = r.IsDBNull(29) ? null : r.GetString(29),
    };

    private static Dictionary<int, string> Pcrs(string json) =>
        JsonSerializer.Deserialize(json, SessionJson.Default.DictionaryInt32String) ?? [];

    private static NpgsqlParameter Json(string name, Dictionary<int, string>? pcrs) =>
        new(name, NpgsqlDbType.Jsonb) { Value = pcrs is null ? DBNull.Value : JsonSerializer.Serialize(pcrs, SessionJson.Default.DictionaryInt32String) };
}

/// <summary>The JSON of the PCR maps (<c>{"0": "hex", ...}</c>), generated at build time.</summary>
[JsonSerializable(typeof(Dictionary<int, string>))]
internal sealed partial class SessionJson : JsonSerializerContext;
