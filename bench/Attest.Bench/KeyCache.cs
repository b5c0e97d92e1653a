using System.Buffers.Binary;

namespace Kldload.Attest.Bench;

/// <summary>
/// Private keys of simulated TPMs kept between runs (RSA-2048 generation takes tens of
/// milliseconds a key): one file per key family, records of <c>u16 length | PKCS#8 DER</c>.
/// Missing keys are generated on all cores and appended.
/// </summary>
public sealed class KeyCache(string directory)
{
    /// <summary>The first <paramref name="count"/> keys of the family, generating what is missing.</summary>
    public IReadOnlyList<byte[]> Keys(SimulatedEk kind, int count, Action<string> say)
    {
        ArgumentNullException.ThrowIfNull(say);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, kind == SimulatedEk.Rsa2048 ? "rsa2048.keys" : "eccp256.keys");
        var keys = Read(path);
        if (keys.Count < count)
        {
            say($"keys: generating {count - keys.Count} {kind} keys into {path} (once)");
            var fresh = new byte[count - keys.Count][];
            Parallel.For(0, fresh.Length, i => fresh[i] = SimulatedTpm.NewPrivateKey(kind));
            using var file = new FileStream(path, FileMode.Append, FileAccess.Write);
            Span<byte> length = stackalloc byte[2];
            foreach (var key in fresh)
            {
                BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)key.Length);
                file.Write(length);
                file.Write(key);
            }

            keys.AddRange(fresh);
        }

        return keys.Take(count).ToList();
    }

    private static List<byte[]> Read(string path)
    {
        var keys = new List<byte[]>();
        if (!File.Exists(path))
        {
            return keys;
        }

        var bytes = File.ReadAllBytes(path).AsSpan();
        while (bytes.Length >= 2)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes);
            if (bytes.Length < 2 + length)
            {
                break; // a torn append: the keys before it are whole
            }

            keys.Add(bytes.Slice(2, length).ToArray());
            bytes = bytes[(2 + length)..];
        }

        return keys;
    }
}
