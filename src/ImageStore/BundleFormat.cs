namespace Kldload.ImageStore;

/// <summary>
/// The bundle format: a tar archive (optionally gzip or zstd compressed) that carries images to a
/// site with no network.
/// <code>
/// bundle.json     index: { "format": "kldload-bundle/1", "created": ISO-8601, "channel": null|"stable",
///                          "images": [ full manifests ], "blobs": [ { "digest": hex, "size": n } ] }
/// bundle.sig      detached signature of the exact bytes of bundle.json:
///                 { "algorithm": "ed25519"|"ecdsa-p256-sha256", "keyId": hex SHA-256 of the
///                   signer's DER SubjectPublicKeyInfo, "signature": base64 }
/// blobs/{digest}  one regular file per blob, named by its SHA-256
/// </code>
/// The signature covers the index, and the index names every blob by hash, so one signature check
/// plus a hash per blob authenticates every byte.
/// </summary>
public static class BundleFormat
{
    public const string FormatName = "kldload-bundle/1";
    public const string IndexEntry = "bundle.json";
    public const string SignatureEntry = "bundle.sig";
    public const string BlobPrefix = "blobs/";

    /// <summary>Compression of a bundle file.</summary>
    public enum Compression : byte
    {
        None = 0,
        Gzip = 1,
        Zstd = 2,
    }

    /// <summary>Compression chosen by the output file name: <c>.gz</c>/<c>.tgz</c>, <c>.zst</c>, else none.</summary>
    public static Compression FromFileName(string path)
        => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) ? Compression.Gzip
            : path.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".zstd", StringComparison.OrdinalIgnoreCase) ? Compression.Zstd
            : Compression.None;

    /// <summary>Compression recognised by magic number: gzip 1F 8B, zstd 28 B5 2F FD.</summary>
    public static Compression FromMagic(ReadOnlySpan<byte> head)
        => head.Length >= 2 && head[0] == 0x1F && head[1] == 0x8B ? Compression.Gzip
            : head.Length >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD ? Compression.Zstd
            : Compression.None;
}

/// <summary>A bundle was refused; the message names what is wrong in one line.</summary>
public sealed class BundleException(string message, Exception? inner = null) : Exception(message, inner);
