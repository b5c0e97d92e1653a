using Kldload.Provisioner.Storage;
using Npgsql;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// Boot tokens in PostgreSQL (table <c>boot_tokens</c>): the token text is the primary key, so the
/// check on every attestation request is a key lookup; indexes on expiry (the daily sweep) and node
/// (closing a node's tokens). Commands join the database's ambient transaction
/// (<see cref="PostgresAmbientTransaction"/>), as a token is issued inside the boot's transaction.
/// </summary>
public sealed class PostgresBootTokenStore : IBootTokenStore
{
    /// <summary>The table, as migrations of component <c>boot_tokens</c>.</summary>
    public static readonly PostgresSchema Schema = new("boot_tokens",
    [
        """
        CREATE TABLE boot_tokens (
            token text PRIMARY KEY,
            node_id text NOT NULL,
            mac text NOT NULL,
            issued_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            completed_at timestamptz,
            image_name text,
            image_version text,
            kernel_digest text,
            kernel_authenticode_digest text,
            initrd_digest text,
            load_options text
        );
        CREATE INDEX boot_tokens_expires_at ON boot_tokens (expires_at);
        CREATE INDEX boot_tokens_node ON boot_tokens (node_id);
        """,
    ]);

    private const string Columns =
        "token, node_id, mac, issued_at, expires_at, completed_at, image_name, image_version, kernel_digest, kernel_authenticode_digest, initrd_digest, load_options";

    private readonly PostgresKldloadDatabase _db;

    public PostgresBootTokenStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _db = database;
    }

    public void Insert(BootToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var command = _db.CreateCommand(
            $"""
            INSERT INTO boot_tokens ({Columns})
            VALUES (@token, @node_id, @mac, @issued_at, @expires_at, @completed_at, @image_name, @image_version, @kernel_digest,
                @kernel_authenticode_digest, @initrd_digest, @load_options)
            """);
        Bind(command, token);
        command.ExecuteNonQuery();
    }

    public BootToken? Find(string token)
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM boot_tokens WHERE token = @token");
        command.Parameters.Add(Text("token", token));
        using var r = command.ExecuteReader();
        return r.Read() ? Read(r) : null;
    }

    /// <summary>Every token: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<BootToken> All()
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM boot_tokens ORDER BY token");
        using var r = command.ExecuteReader();
        var tokens = new List<BootToken>();
        while (r.Read())
        {
            tokens.Add(Read(r));
        }

        return tokens;
    }

    private static BootToken Read(NpgsqlDataReader r) =>
        new()
        {
            Token = r.GetString(0),
            NodeId = r.GetString(1),
            Mac = r.GetString(2),
            IssuedAt = r.UtcTime(3),
            ExpiresAt = r.UtcTime(4),
            CompletedAt = r.NullableUtcTime(5),
            ImageName = r.NullableText(6),
            ImageVersion = r.NullableText(7),
            KernelDigest = r.NullableText(8),
            KernelAuthenticodeDigest = r.NullableText(9),
            InitrdDigest = r.NullableText(10),
            LoadOptions = r.NullableText(11),
        };

    public bool Update(BootToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var command = _db.CreateCommand(
            """
            UPDATE boot_tokens SET node_id = @node_id, mac = @mac, issued_at = @issued_at, expires_at = @expires_at,
                completed_at = @completed_at, image_name = @image_name, image_version = @image_version, kernel_digest = @kernel_digest,
                kernel_authenticode_digest = @kernel_authenticode_digest, initrd_digest = @initrd_digest, load_options = @load_options
            WHERE token = @token
            """);
        Bind(command, token);
        return command.ExecuteNonQuery() > 0;
    }

    public int DeleteExpiredBefore(DateTime cutoff)
    {
        using var command = _db.CreateCommand("DELETE FROM boot_tokens WHERE expires_at < @cutoff");
        command.Parameters.Add(Time("cutoff", cutoff));
        return command.ExecuteNonQuery();
    }

    public int ExpireOpen(string nodeId, DateTime now)
    {
        using var command = _db.CreateCommand(
            "UPDATE boot_tokens SET expires_at = @now WHERE node_id = @node_id AND completed_at IS NULL AND expires_at > @now");
        command.Parameters.Add(Text("node_id", nodeId));
        command.Parameters.Add(Time("now", now));
        return command.ExecuteNonQuery();
    }

    private static void Bind(NpgsqlCommand command, BootToken t)
    {
        var p = command.Parameters;
        p.Add(Text("token", t.Token));
        p.Add(Text("node_id", t.NodeId));
        p.Add(Text("mac", t.Mac));
        p.Add(Time("issued_at", t.IssuedAt));
        p.Add(Time("expires_at", t.ExpiresAt));
        p.Add(Time("completed_at", t.CompletedAt));
        p.Add(Text("image_name", t.ImageName));
        p.Add(Text("image_version", t.ImageVersion));
        p.Add(Text("kernel_digest", t.KernelDigest));
        p.Add(Text("kernel_authenticode_digest", t.KernelAuthenticodeDigest));
        p.Add(Text("initrd_digest", t.InitrdDigest));
        p.Add(Text("load_options", t.LoadOptions));
    }
}
