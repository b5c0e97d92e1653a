using Npgsql;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// Turns a PostgreSQL URI (<c>postgres://user:password@host:port/database?sslmode=require</c>, the form
/// libpq and most tools accept; <c>postgresql://</c> too) into Npgsql's connection string, which is
/// what <c>Database:ConnectionString</c> takes. A string that is not a URI is taken as Npgsql's form.
/// </summary>
public static class PostgresConnectionUri
{
    /// <summary>Npgsql's connection string for <paramref name="text"/>; false and the reason (never the password) when it is neither form.</summary>
    public static bool TryConvert(string text, out string connectionString, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        connectionString = string.Empty;
        text = text.Trim();
        try
        {
            if (!text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            {
                var plain = new NpgsqlConnectionStringBuilder(text);
                return Complete(plain, out connectionString, out error);
            }

            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                error = "not a postgres://user:password@host:port/database URI";
                return false;
            }

            var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host.Trim('[', ']') };
            if (!uri.IsDefaultPort && uri.Port > 0)
            {
                builder.Port = uri.Port;
            }

            builder.Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
            if (uri.UserInfo.Length > 0)
            {
                var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
                builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
                if (colon >= 0)
                {
                    builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
                }
            }

            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
                var value = eq < 0 ? string.Empty : Uri.UnescapeDataString(pair[(eq + 1)..]);
                // libpq's names where they differ from Npgsql's.
                builder[key switch { "sslmode" => "SSL Mode", "connect_timeout" => "Timeout", "application_name" => "Application Name", _ => key }] = value;
            }

            return Complete(builder, out connectionString, out error);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            error = e.Message;
            return false;
        }
    }

    private static bool Complete(NpgsqlConnectionStringBuilder builder, out string connectionString, out string? error)
    {
        connectionString = string.Empty;
        if (string.IsNullOrEmpty(builder.Host) || string.IsNullOrEmpty(builder.Database))
        {
            error = "a host and a database are needed";
            return false;
        }

        connectionString = builder.ConnectionString;
        error = null;
        return true;
    }
}
