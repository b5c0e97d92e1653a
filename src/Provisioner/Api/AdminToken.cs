using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Api;

/// <summary>
/// The admin API's bearer token, read from <c>Auth:AdminTokenFile</c>; created (mode 0600) on first
/// start when missing. The token is never logged.
/// </summary>
public sealed class AdminToken
{
    private readonly byte[] _token;

    private AdminToken(string token) => _token = Encoding.UTF8.GetBytes(token);

    /// <summary>Reads the token file, creating it with a fresh random token if it does not exist.</summary>
    public static AdminToken LoadOrCreate(AuthSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var path = settings.AdminTokenFile;
        try
        {
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
                using var stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
                stream.Flush(flushToDisk: true);
            }

            var text = File.ReadAllText(path).Trim();
            if (text.Length < 16)
            {
                throw new SettingBindException("Auth:AdminTokenFile", path, "the token in it is shorter than 16 characters; delete the file to have a new one generated");
            }

            return new AdminToken(text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingBindException("Auth:AdminTokenFile", path, $"cannot be read or created: {e.Message}", e);
        }
    }

    /// <summary>Reads the token for a client (CLI); null when the file is missing or unreadable.</summary>
    public static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Constant-time check of an <c>Authorization</c> header value.</summary>
    public bool IsValid(string? authorization)
    {
        const string prefix = "Bearer ";
        if (authorization is null || !authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(authorization[prefix.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _token);
    }
}
