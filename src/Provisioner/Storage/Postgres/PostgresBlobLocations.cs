using Kldload.ImageStore;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// <see cref="IBlobLocations"/> in table <c>image_blob_holders</c>: one row per (blob, instance), with
/// the instance's base URL and when it last said it holds the blob. Ages are measured with the
/// database's clock, never two machines' clocks.
/// </summary>
public sealed class PostgresBlobLocations : IBlobLocations
{
    public static readonly PostgresSchema Schema = new("image_blobs",
    [
        """
        CREATE TABLE image_blob_holders (
            digest   text        NOT NULL,
            instance text        NOT NULL,
            url      text        NOT NULL,
            seen     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (digest, instance)
        );
        CREATE INDEX image_blob_holders_instance ON image_blob_holders (instance);
        """,
    ]);

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Uses <paramref name="database"/>'s pool; creates or migrates the table.</summary>
    public PostgresBlobLocations(PostgresKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        database.Migrate(Schema);
        _dataSource = database.DataSource;
    }

    public void Publish(string instance, Uri url, IReadOnlyCollection<Sha256Digest> digests)
    {
        ArgumentException.ThrowIfNullOrEmpty(instance);
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(digests);
        var held = digests.Select(d => d.ToString()).ToArray();
        using var connection = _dataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        using (var delete = new NpgsqlCommand("DELETE FROM image_blob_holders WHERE instance = @instance AND NOT (digest = ANY(@digests))", connection, transaction))
        {
            delete.Parameters.AddWithValue("instance", instance);
            delete.Parameters.Add(new NpgsqlParameter("digests", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = held });
            delete.ExecuteNonQuery();
        }

        using (var upsert = new NpgsqlCommand(
            """
            INSERT INTO image_blob_holders (digest, instance, url, seen)
            SELECT d, @instance, @url, now() FROM unnest(@digests) AS d
            ON CONFLICT (digest, instance) DO UPDATE SET url = excluded.url, seen = excluded.seen
            """, connection, transaction))
        {
            upsert.Parameters.AddWithValue("instance", instance);
            upsert.Parameters.AddWithValue("url", url.ToString());
            upsert.Parameters.Add(new NpgsqlParameter("digests", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = held });
            upsert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    public void Add(string instance, Uri url, Sha256Digest digest)
    {
        ArgumentException.ThrowIfNullOrEmpty(instance);
        ArgumentNullException.ThrowIfNull(url);
        using var command = _dataSource.CreateCommand(
            """
            INSERT INTO image_blob_holders (digest, instance, url, seen) VALUES (@digest, @instance, @url, now())
            ON CONFLICT (digest, instance) DO UPDATE SET url = excluded.url, seen = excluded.seen
            """);
        command.Parameters.AddWithValue("digest", digest.ToString());
        command.Parameters.AddWithValue("instance", instance);
        command.Parameters.AddWithValue("url", url.ToString());
        command.ExecuteNonQuery();
    }

    public IReadOnlyList<Uri> HoldersOf(Sha256Digest digest, string exceptInstance, TimeSpan maxAge)
    {
        using var command = _dataSource.CreateCommand(
            """
            SELECT url FROM image_blob_holders
            WHERE digest = @digest AND instance <> @except AND seen > now() - @max_age
            ORDER BY seen DESC
            """);
        command.Parameters.AddWithValue("digest", digest.ToString());
        command.Parameters.AddWithValue("except", exceptInstance);
        command.Parameters.Add(new NpgsqlParameter("max_age", NpgsqlDbType.Interval) { Value = maxAge });
        var urls = new List<Uri>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            if (Uri.TryCreate(reader.GetString(0), UriKind.Absolute, out var url))
            {
                urls.Add(url);
            }
        }

        return urls;
    }
}
