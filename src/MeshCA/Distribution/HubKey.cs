using System.Security.Cryptography;
using Kldload.MeshCA.Authority;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// The hub's WireGuard private key: generated once (random, clamped, as <c>wg genkey</c> does) and kept
/// base64 in <c>meshca/hub.key</c> (0600), which <c>wg set IFACE private-key FILE</c> reads directly.
/// </summary>
public static class HubKey
{
    public const string FileName = "hub.key";

    /// <summary>Loads the hub key from <paramref name="caDirectory"/>, creating it on first use.</summary>
    public static byte[] LoadOrCreate(string caDirectory)
    {
        var path = Path.Combine(caDirectory, FileName);
        if (File.Exists(path))
        {
            if (!WireGuardKey.TryParseBase64(File.ReadAllText(path).Trim(), out var key))
            {
                throw new InvalidDataException($"{path}: not a base64 WireGuard key");
            }

            return key;
        }

        SecureFiles.EnsureDirectory(caDirectory);
        var fresh = RandomNumberGenerator.GetBytes(WireGuardKey.Length);
        WireGuardKey.Clamp(fresh);
        SecureFiles.WriteAllText(path, WireGuardKey.ToBase64(fresh) + "\n");
        return fresh;
    }
}
