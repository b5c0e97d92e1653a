using System.Text;
using Kldload.MeshCA.Authority;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="ICaMaterialStore"/> in the PostgreSQL table <c>mesh_ca</c>, shared by every provisioner
/// on the database: one row (id 1) with the certificates and the trusted roots in clear and the
/// private keys sealed under <see cref="CaKeyFile"/> (<c>Mesh:CaKeyFile</c>), never in clear.
/// Provisioners starting together on an empty database each generate a CA, and the first insert wins
/// (<c>ON CONFLICT DO NOTHING</c>): the others read the stored one, which must open with their key
/// file. One that made its key file only to lose that race deletes it again.
/// </summary>
public sealed class PostgresCaMaterialStore : ICaMaterialStore
{
    public static readonly PostgresSchema Schema = new("meshca",
    [
        """
        CREATE TABLE mesh_ca (
            id smallint PRIMARY KEY CHECK (id = 1),
            intermediate_certificate text NOT NULL,
            intermediate_key bytea NOT NULL,
            trusted_roots text NOT NULL,
            root_certificate text,
            root_key bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ]);

    private const string IntermediatePurpose = "kldload mesh CA intermediate key";
    private const string RootPurpose = "kldload mesh CA root key";

    private readonly NpgsqlDataSource _dataSource;
    private readonly CaKeyFile _key;

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates <c>mesh_ca</c>.</summary>
    public PostgresCaMaterialStore(PostgresKldloadDatabase database, CaKeyFile key)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(key);
        database.Migrate(Schema);
        _dataSource = database.DataSource;
        _key = key;
        Location = $"table mesh_ca of {database.Description}";
    }

    public string Location { get; }

    /// <summary>True when a CA is stored (whether or not this instance's key opens it).</summary>
    public bool Exists
    {
        get
        {
            using var command = _dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM mesh_ca)");
            return command.ExecuteScalar() is true;
        }
    }

    public CaMaterial? Load()
    {
        using var command = _dataSource.CreateCommand(
            "SELECT intermediate_certificate, intermediate_key, trusted_roots, root_certificate, root_key FROM mesh_ca WHERE id = 1");
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new CaMaterial
        {
            IntermediateCertificatePem = reader.GetString(0),
            IntermediateKeyPem = Encoding.UTF8.GetString(_key.Open(IntermediatePurpose, reader.GetFieldValue<byte[]>(1), Location)),
            TrustedRootsPem = reader.GetString(2),
            RootCertificatePem = reader.IsDBNull(3) ? null : reader.GetString(3),
            RootKeyPem = reader.IsDBNull(4) ? null : Encoding.UTF8.GetString(_key.Open(RootPurpose, reader.GetFieldValue<byte[]>(4), Location)),
        };
    }

    public CaMaterial AddIfAbsent(CaMaterial material)
    {
        ArgumentNullException.ThrowIfNull(material);
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_ca (id, intermediate_certificate, intermediate_key, trusted_roots, root_certificate, root_key) "
            + "VALUES (1, @intermediate_certificate, @intermediate_key, @trusted_roots, @root_certificate, @root_key) ON CONFLICT (id) DO NOTHING");
        command.Parameters.Add(new NpgsqlParameter("intermediate_certificate", NpgsqlDbType.Text) { Value = material.IntermediateCertificatePem });
        command.Parameters.Add(new NpgsqlParameter("intermediate_key", NpgsqlDbType.Bytea) { Value = Seal(IntermediatePurpose, material.IntermediateKeyPem) });
        command.Parameters.Add(new NpgsqlParameter("trusted_roots", NpgsqlDbType.Text) { Value = material.TrustedRootsPem });
        command.Parameters.Add(new NpgsqlParameter("root_certificate", NpgsqlDbType.Text) { Value = (object?)material.RootCertificatePem ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("root_key", NpgsqlDbType.Bytea) { Value = material.RootKeyPem is { } rootKey ? Seal(RootPurpose, rootKey) : DBNull.Value });
        if (command.ExecuteNonQuery() == 1)
        {
            return material;
        }

        // Another provisioner stored its CA first: use that one, if our key file opens it.
        try
        {
            return Load() ?? throw new InvalidDataException($"{Location}: the CA stored first has gone");
        }
        catch (CaKeyFileException)
        {
            _key.ForgetIfCreatedHere();
            throw;
        }
    }

    public void ReplaceIntermediate(string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem)
    {
        using var command = _dataSource.CreateCommand(
            "INSERT INTO mesh_ca (id, intermediate_certificate, intermediate_key, trusted_roots) "
            + "VALUES (1, @intermediate_certificate, @intermediate_key, @trusted_roots) ON CONFLICT (id) DO UPDATE SET "
            + "intermediate_certificate = excluded.intermediate_certificate, intermediate_key = excluded.intermediate_key, "
            + "trusted_roots = excluded.trusted_roots, updated_at = now()");
        command.Parameters.Add(new NpgsqlParameter("intermediate_certificate", NpgsqlDbType.Text) { Value = intermediateCertificatePem });
        command.Parameters.Add(new NpgsqlParameter("intermediate_key", NpgsqlDbType.Bytea) { Value = Seal(IntermediatePurpose, intermediateKeyPem) });
        command.Parameters.Add(new NpgsqlParameter("trusted_roots", NpgsqlDbType.Text) { Value = trustedRootsPem });
        command.ExecuteNonQuery();
    }

    public void SaveTrustedRoots(string trustedRootsPem)
    {
        using var command = _dataSource.CreateCommand("UPDATE mesh_ca SET trusted_roots = @trusted_roots, updated_at = now() WHERE id = 1");
        command.Parameters.Add(new NpgsqlParameter("trusted_roots", NpgsqlDbType.Text) { Value = trustedRootsPem });
        if (command.ExecuteNonQuery() != 1)
        {
            throw new InvalidOperationException($"{Location} holds no mesh CA");
        }
    }

    private byte[] Seal(string purpose, string pem) => _key.Seal(purpose, Encoding.UTF8.GetBytes(pem));
}
