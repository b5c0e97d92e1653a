using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.MeshCA.Authority;

/// <summary>
/// The key that seals the CA's private keys where several provisioners share them (a database): 32
/// random bytes in one file, mode 0600, made by the provisioner that creates the CA and copied to
/// every other. Each key is sealed with AES-256-GCM under a fresh 96-bit nonce, with what the key is
/// (<c>intermediate</c>, <c>root</c>) as associated data, so a sealed root key cannot pass for the
/// intermediate's.
/// </summary>
/// <remarks>Sealed form: version byte 1, nonce (12 bytes), ciphertext, tag (16 bytes).</remarks>
public sealed class CaKeyFile
{
    public const int KeySize = 32;
    private const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly Lock _gate = new();
    private byte[]? _key;
    private bool _createdHere;

    /// <param name="path">The key file (<c>Mesh:CaKeyFile</c>).</param>
    public CaKeyFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }

    /// <summary>Seals <paramref name="plain"/>; creates the key file (exclusively, 0600) if there is none yet.</summary>
    public byte[] Seal(string purpose, ReadOnlySpan<byte> plain)
    {
        var key = LoadOrCreate();
        var sealedBytes = new byte[1 + NonceSize + plain.Length + TagSize];
        sealedBytes[0] = Version;
        var nonce = sealedBytes.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(1 + NonceSize, plain.Length), sealedBytes.AsSpan(1 + NonceSize + plain.Length), Encoding.UTF8.GetBytes(purpose));
        return sealedBytes;
    }

    /// <summary>Opens what <see cref="Seal"/> made; <see cref="CaKeyFileException"/> when the file is missing or is not the key it was sealed under.</summary>
    public byte[] Open(string purpose, ReadOnlySpan<byte> sealedBytes, string sealedWhere)
    {
        var key = Load() ?? throw new CaKeyFileException(Path,
            $"{Path} is missing, and the mesh CA in {sealedWhere} is sealed under it: copy it from the provisioner that created the CA (mode 0600)");
        if (sealedBytes.Length < 1 + NonceSize + TagSize || sealedBytes[0] != Version)
        {
            throw new InvalidDataException($"the sealed {purpose} key in {sealedWhere} is not in a known sealed form");
        }

        var plain = new byte[sealedBytes.Length - 1 - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(sealedBytes.Slice(1, NonceSize), sealedBytes.Slice(1 + NonceSize, plain.Length), sealedBytes[(1 + NonceSize + plain.Length)..], plain, Encoding.UTF8.GetBytes(purpose));
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new CaKeyFileException(Path,
                $"{Path} does not open the mesh CA in {sealedWhere} (it is another key): use the key file of the provisioner that created the CA", e);
        }

        return plain;
    }

    /// <summary>Deletes the key file if this instance created it: a start-up that lost the race to create the CA leaves nothing behind.</summary>
    public void ForgetIfCreatedHere()
    {
        lock (_gate)
        {
            if (_createdHere)
            {
                File.Delete(Path);
                _createdHere = false;
                _key = null;
            }
        }
    }

    private byte[]? Load()
    {
        lock (_gate)
        {
            if (_key is not null)
            {
                return _key;
            }

            if (!File.Exists(Path))
            {
                return null;
            }

            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(Path) & GroupOrOther) is var loose && loose != 0)
            {
                var mode = Convert.ToString((int)File.GetUnixFileMode(Path), 8).PadLeft(4, '0');
                throw new CaKeyFileException(Path, $"{Path} has mode {mode}: it opens the mesh CA's private keys, so only the service user may read it (chmod 600 {Path})");
            }

            var bytes = File.ReadAllBytes(Path);
            if (bytes.Length != KeySize)
            {
                throw new CaKeyFileException(Path, string.Create(CultureInfo.InvariantCulture, $"{Path} holds {bytes.Length} bytes, not a {KeySize}-byte key"));
            }

            _key = bytes;
            return bytes;
        }
    }

    private byte[] LoadOrCreate()
    {
        lock (_gate)
        {
            if (Load() is { } key)
            {
                return key;
            }

            // Written under a private name and linked into place without overwriting: another
            // provisioner given the same path at the same moment reads a whole key or makes its own.
            var directory = System.IO.Path.GetDirectoryName(Path)!;
            Directory.CreateDirectory(directory);
            var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Environment.ProcessId}.{Guid.NewGuid():N}");
            var fresh = RandomNumberGenerator.GetBytes(KeySize);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = SecureFiles.FileMode;
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(fresh);
                stream.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(temp, Path, overwrite: false);
            }
            catch (IOException) when (File.Exists(Path))
            {
                File.Delete(temp);
                return Load()!;
            }

            _key = fresh;
            _createdHere = true;
            return fresh;
        }
    }
}

/// <summary>The CA key file (<c>Mesh:CaKeyFile</c>) is missing, unsafe, or does not open the stored CA.</summary>
public sealed class CaKeyFileException : Exception
{
    public CaKeyFileException(string path, string message, Exception? innerException = null)
        : base(message, innerException) => KeyPath = path;

    public CaKeyFileException()
    {
        KeyPath = "";
    }

    public CaKeyFileException(string message)
        : base(message) => KeyPath = "";

    public CaKeyFileException(string message, Exception innerException)
        : base(message, innerException) => KeyPath = "";

    /// <summary>The key file.</summary>
    public string KeyPath { get; }
}
