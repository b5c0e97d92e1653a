using System.Security.Cryptography;
using System.Text;

namespace Kldload.Provisioner.Power;

/// <summary>
/// The key that seals BMC passwords at rest: 32 random bytes in <c>{DataDir}/bmc.key</c> (mode 0600,
/// created on first use, carried by backups beside the database it opens). Each password is sealed
/// with AES-256-GCM under a fresh nonce, with the node id as associated data, so a sealed password
/// copied onto another node's record does not open.
/// </summary>
public sealed class BmcCredentialKey
{
    public const string FileName = "bmc.key";
    private const string Prefix = "aesgcm1.";
    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly string _path;
    private readonly Lock _lock = new();
    private byte[]? _key;

    public BmcCredentialKey(string dataDir) => _path = Path.Combine(dataDir, FileName);

    /// <summary>Where the key lives.</summary>
    public string KeyPath => _path;

    public string Seal(string nodeId, string password)
    {
        var key = LoadOrCreate();
        var plain = Encoding.UTF8.GetBytes(password);
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var sealedBytes = new byte[NonceSize + plain.Length + TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceSize, plain.Length), sealedBytes.AsSpan(NonceSize + plain.Length), Encoding.UTF8.GetBytes(nodeId));
        nonce.CopyTo(sealedBytes, 0);
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    /// <summary>Opens a sealed password; a clear exception when the key is missing or does not fit.</summary>
    public string Open(string nodeId, string sealedText)
    {
        if (!sealedText.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new CryptographicException("the stored BMC password is not in a known sealed form");
        }

        var key = Load() ?? throw new CryptographicException($"{_path} is missing: the BMC passwords cannot be opened (restore it from the backup taken with the database)");
        var bytes = Convert.FromBase64String(sealedText[Prefix.Length..]);
        if (bytes.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("the stored BMC password is truncated");
        }

        var plain = new byte[bytes.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(bytes.AsSpan(0, NonceSize), bytes.AsSpan(NonceSize, plain.Length), bytes.AsSpan(NonceSize + plain.Length), plain, Encoding.UTF8.GetBytes(nodeId));
        return Encoding.UTF8.GetString(plain);
    }

    private byte[]? Load()
    {
        lock (_lock)
        {
            if (_key is null && File.Exists(_path))
            {
                var bytes = File.ReadAllBytes(_path);
                if (bytes.Length != KeySize)
                {
                    throw new CryptographicException($"{_path} holds {bytes.Length} bytes, not a {KeySize}-byte key");
                }

                _key = bytes;
            }

            return _key;
        }
    }

    private byte[] LoadOrCreate()
    {
        lock (_lock)
        {
            if (Load() is { } key)
            {
                return key;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            var fresh = RandomNumberGenerator.GetBytes(KeySize);
            using (var stream = new FileStream(_path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                stream.Write(fresh);
                stream.Flush(flushToDisk: true);
            }

            _key = fresh;
            return fresh;
        }
    }
}
