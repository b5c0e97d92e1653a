using System.Formats.Tar;
using System.Security.Cryptography;
using Kldload.ImageStore;

namespace Kldload.Provisioner.Kit;

/// <summary>
/// Reads and authenticates a kit: <c>kit.json</c> and <c>kit.sig</c> must be its first two entries and
/// the signature must verify with a key in <see cref="TrustedKeys"/> before any other byte is read;
/// then every entry is staged under <c>staging</c> with its SHA-256 and size checked against the
/// signed index, and an entry the index does not list, or one it lists that is missing, refuses the
/// kit. It installs nothing: the caller applies a <see cref="VerifiedKit"/>.
/// </summary>
public static class KitReader
{
    private const int MaxIndexBytes = 4 << 20;
    private const int MaxSignatureBytes = 64 << 10;
    private static readonly SignedEntries SignedEntries = new("kit", KitFormat.IndexEntry, KitFormat.SignatureEntry, string.Empty);

    /// <summary>
    /// Verifies the kit at <paramref name="path"/>; <paramref name="staging"/> is created only once the
    /// signature has verified. Throws <see cref="KitException"/> naming the first check that fails;
    /// the caller removes <paramref name="staging"/>.
    /// </summary>
    public static async Task<VerifiedKit> ReadAsync(string path, TrustedKeys trusted, string staging, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        if (!File.Exists(path))
        {
            throw new KitException($"{path}: no such file");
        }

        try
        {
            var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                var tar = new TarReader(file, leaveOpen: true);
                await using (tar.ConfigureAwait(false))
                {
                    var indexBytes = await ReadSmallAsync(tar, KitFormat.IndexEntry, MaxIndexBytes, cancellationToken).ConfigureAwait(false);
                    var signatureBytes = await ReadSmallAsync(tar, KitFormat.SignatureEntry, MaxSignatureBytes, cancellationToken).ConfigureAwait(false);
                    var signer = VerifySignature(indexBytes, signatureBytes, trusted);
                    var index = KitIndex.Parse(indexBytes);

                    Directory.CreateDirectory(staging);
                    var byPath = index.Entries.ToDictionary(e => e.Path, StringComparer.Ordinal);
                    var staged = new Dictionary<string, string>(StringComparer.Ordinal);
                    while (await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                    {
                        if (!byPath.TryGetValue(entry.Name, out var listed))
                        {
                            throw new KitException($"entry {entry.Name} is in the kit but not listed in the signed {KitFormat.IndexEntry}");
                        }

                        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                        {
                            throw new KitException($"entry {entry.Name} is not a regular file");
                        }

                        if (staged.ContainsKey(entry.Name))
                        {
                            throw new KitException($"entry {entry.Name} appears twice in the kit");
                        }

                        var target = Path.Combine(staging, staged.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        await StageAsync(entry.DataStream, target, listed, cancellationToken).ConfigureAwait(false);
                        staged[entry.Name] = target;
                    }

                    if (index.Entries.FirstOrDefault(e => !staged.ContainsKey(e.Path)) is { } missing)
                    {
                        throw new KitException($"entry {missing.Path} is listed in {KitFormat.IndexEntry} but missing from the kit");
                    }

                    return new VerifiedKit(index, signer, Convert.ToHexStringLower(SHA256.HashData(indexBytes)), staged);
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or (IOException and not FileNotFoundException))
        {
            throw new KitException($"{path}: {e.Message.TrimEnd('.')} (a damaged kit, or no room to stage it)", e);
        }
    }

    private static async Task<byte[]> ReadSmallAsync(TarReader tar, string name, int max, CancellationToken cancellationToken)
    {
        var entry = await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        if (entry is null || entry.Name != name || entry.DataStream is null)
        {
            throw new KitException($"not a kit: the {(name == KitFormat.IndexEntry ? "first" : "second")} entry must be {name} (kits are written by 'kldload kit export')");
        }

        if (entry.Length > max)
        {
            throw new KitException($"{name} is {entry.Length} bytes, more than the {max} allowed");
        }

        var buffer = new MemoryStream();
        await entry.DataStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>Checks <c>kit.sig</c> over the exact index bytes as <c>bundle.sig</c> is checked (<see cref="BundleSignature"/>).</summary>
    private static string VerifySignature(byte[] index, byte[] signatureFile, TrustedKeys trusted)
    {
        try
        {
            return BundleSignature.Verify(index, signatureFile, trusted, SignedEntries);
        }
        catch (BundleException e)
        {
            throw new KitException(e.Message, e.InnerException);
        }
    }

    private static async Task StageAsync(Stream content, string target, KitEntry listed, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (output.ConfigureAwait(false))
        {
            int n;
            while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += n;
                if (total > listed.Size)
                {
                    throw new KitException($"entry {listed.Path} is larger than the {listed.Size} bytes {KitFormat.IndexEntry} says");
                }

                hash.AppendData(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
        }

        if (total != listed.Size)
        {
            throw new KitException($"entry {listed.Path} is {total} bytes, {KitFormat.IndexEntry} says {listed.Size}");
        }

        var digest = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (digest != listed.Sha256)
        {
            throw new KitException($"entry {listed.Path} has SHA-256 {digest}, {KitFormat.IndexEntry} says {listed.Sha256} (altered kit)");
        }
    }
}

/// <summary>A kit that passed <see cref="KitReader"/>: its index, signer, id (SHA-256 of kit.json) and each entry's staged file by entry path.</summary>
public sealed record VerifiedKit(KitIndex Index, string SignerId, string KitId, IReadOnlyDictionary<string, string> Staged);
