using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Npgsql;
using NpgsqlTypes;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// Typed parameters and column reads shared by the PostgreSQL stores: a null is <c>NULL</c>, times are
/// <c>timestamptz</c> in UTC (as LiteDB stores them: a time of another kind is converted, the minimum
/// and maximum kept), nested documents read only whole are <c>jsonb</c>.
/// </summary>
public static class PostgresValues
{
    /// <summary>
    /// How nested documents are written to <c>jsonb</c>: public settable properties by their .NET
    /// names; derived (get-only) properties are left out, as they are computed again on read.
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    if (info.Kind != JsonTypeInfoKind.Object)
                    {
                        return;
                    }

                    foreach (var derived in info.Properties.Where(p => p.Set is null).ToList())
                    {
                        info.Properties.Remove(derived);
                    }
                },
            },
        },
    };

    public static NpgsqlParameter Text(string name, string? value) =>
        new(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter Integer(string name, int? value) =>
        new(name, NpgsqlDbType.Integer) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter Bigint(string name, long? value) =>
        new(name, NpgsqlDbType.Bigint) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter Double(string name, double? value) =>
        new(name, NpgsqlDbType.Double) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter Boolean(string name, bool? value) =>
        new(name, NpgsqlDbType.Boolean) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter Bytes(string name, byte[]? value) =>
        new(name, NpgsqlDbType.Bytea) { Value = (object?)value ?? DBNull.Value };

    public static NpgsqlParameter TextArray(string name, IEnumerable<string>? values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = (object?)values?.ToArray() ?? DBNull.Value };

    public static NpgsqlParameter Time(string name, DateTime? value) =>
        new(name, NpgsqlDbType.TimestampTz) { Value = value is { } t ? Utc(t) : DBNull.Value };

    /// <summary>A nested document as <c>jsonb</c>; null stays <c>NULL</c>.</summary>
    public static NpgsqlParameter Jsonb<T>(string name, T? value) where T : class =>
        new(name, NpgsqlDbType.Jsonb) { Value = value is null ? DBNull.Value : JsonSerializer.Serialize(value, Json) };

    /// <summary>A time as <c>timestamptz</c> takes it: UTC (converted as LiteDB converts it).</summary>
    public static DateTime Utc(DateTime time) =>
        time.Kind == DateTimeKind.Utc ? time
        : time == DateTime.MinValue || time == DateTime.MaxValue ? DateTime.SpecifyKind(time, DateTimeKind.Utc)
        : time.ToUniversalTime();

    public static string? NullableText(this NpgsqlDataReader row, int ordinal) =>
        row.IsDBNull(ordinal) ? null : row.GetString(ordinal);

    public static T? Nullable<T>(this NpgsqlDataReader row, int ordinal) where T : struct =>
        row.IsDBNull(ordinal) ? null : row.GetFieldValue<T>(ordinal);

    /// <summary>A <c>text[]</c> column as a list; null when <c>NULL</c>.</summary>
    public static List<string>? NullableTextList(this NpgsqlDataReader row, int ordinal) =>
        row.IsDBNull(ordinal) ? null : [.. row.GetFieldValue<string[]>(ordinal)];

    /// <summary>A <c>timestamptz</c> column as a UTC time (Npgsql reads <c>-infinity</c> as <see cref="DateTime.MinValue"/>).</summary>
    public static DateTime UtcTime(this NpgsqlDataReader row, int ordinal) =>
        DateTime.SpecifyKind(row.GetFieldValue<DateTime>(ordinal), DateTimeKind.Utc);

    public static DateTime? NullableUtcTime(this NpgsqlDataReader row, int ordinal) =>
        row.IsDBNull(ordinal) ? null : row.UtcTime(ordinal);

    /// <summary>A <c>jsonb</c> column read whole; null when <c>NULL</c>.</summary>
    public static T? FromJsonb<T>(this NpgsqlDataReader row, int ordinal) where T : class =>
        row.IsDBNull(ordinal) ? null : JsonSerializer.Deserialize<T>(row.GetString(ordinal), Json);
}
