using Kldload.Provisioner.Storage;
using Npgsql;
using static Kldload.Provisioner.Storage.PostgresValues;

namespace Kldload.Provisioner.Api;

/// <summary>
/// Operator tokens in PostgreSQL (table <c>operator_tokens</c>, keyed by name). A name taken by another
/// instance is refused by the primary key (<c>ON CONFLICT DO NOTHING</c>), not by a read before the write.
/// </summary>
public sealed class PostgresOperatorTokenStore : IOperatorTokenStore
{
    /// <summary>The table, as migrations of component <c>operator_tokens</c>.</summary>
    public static readonly PostgresSchema Schema = new("operator_tokens",
    [
        """
        CREATE TABLE operator_tokens (
            name text PRIMARY KEY,
            role text NOT NULL,
            hash bytea NOT NULL,
            created timestamptz NOT NULL,
            created_by text NOT NULL,
            last_used timestamptz,
            revoked timestamptz
        );
        """,
    ]);

    private const string Columns = "name, role, hash, created, created_by, last_used, revoked";

    private readonly PostgresKldloadDatabase _db;

    public PostgresOperatorTokenStore(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _db = database;
    }

    public IReadOnlyList<OperatorToken> List()
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM operator_tokens ORDER BY name COLLATE \"C\"");
        return Read(command);
    }

    public OperatorToken? Get(string name)
    {
        using var command = _db.CreateCommand($"SELECT {Columns} FROM operator_tokens WHERE name = @name");
        command.Parameters.Add(Text("name", name));
        return Read(command).SingleOrDefault();
    }

    public bool TryInsert(OperatorToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var command = _db.CreateCommand(
            $"INSERT INTO operator_tokens ({Columns}) VALUES (@name, @role, @hash, @created, @created_by, @last_used, @revoked) ON CONFLICT (name) DO NOTHING");
        Bind(command, token);
        return command.ExecuteNonQuery() > 0;
    }

    public bool Update(OperatorToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        using var command = _db.CreateCommand(
            "UPDATE operator_tokens SET role = @role, hash = @hash, created = @created, created_by = @created_by, last_used = @last_used, revoked = @revoked WHERE name = @name");
        Bind(command, token);
        return command.ExecuteNonQuery() > 0;
    }

    private static void Bind(NpgsqlCommand command, OperatorToken t)
    {
        var p = command.Parameters;
        p.Add(Text("name", t.Name));
        p.Add(Text("role", t.Role.ToString()));
        p.Add(Bytes("hash", t.Hash));
        p.Add(Time("created", t.Created));
        p.Add(Text("created_by", t.CreatedBy));
        p.Add(Time("last_used", t.LastUsed));
        p.Add(Time("revoked", t.Revoked));
    }

    private static List<OperatorToken> Read(NpgsqlCommand command)
    {
        using var r = command.ExecuteReader();
        var tokens = new List<OperatorToken>();
        while (r.Read())
        {
            tokens.Add(new OperatorToken
            {
                Name = r.GetString(0),
                Role = Enum.Parse<OperatorRole>(r.GetString(1)),
                Hash = r.GetFieldValue<byte[]>(2),
                Created = r.UtcTime(3),
                CreatedBy = r.GetString(4),
                LastUsed = r.NullableUtcTime(5),
                Revoked = r.NullableUtcTime(6),
            });
        }

        return tokens;
    }
}
