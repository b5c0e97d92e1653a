using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// RSAES-OAEP encryption with a label (RFC 8017, 7.1.1), which .NET's RSA API cannot do: the TPM
/// decrypts credential seeds with the label <c>"IDENTITY\0"</c> (TPM 2.0 Part 1, annex B.10.3).
/// Managed, over <see cref="BigInteger.ModPow(BigInteger, BigInteger, BigInteger)"/>: the reference
/// that <see cref="LibCryptoRsaOaep"/> (what <see cref="CredentialMaker"/> uses) is tested against.
/// <code>
/// EM = 00 | maskedSeed (hLen) | maskedDB (k - hLen - 1);  DB = H(label) | 00.. | 01 | M
/// </code>
/// </summary>
public static class RsaOaepLabel
{
    public static byte[] Encrypt(RSAParameters publicKey, TpmAlgId hash, string label, ReadOnlySpan<byte> message)
    {
        var modulus = publicKey.Modulus ?? throw new ArgumentException("no modulus", nameof(publicKey));
        var k = modulus.Length;
        var hLen = TpmHash.DigestSize(hash);
        if (message.Length > k - (2 * hLen) - 2)
        {
            throw new ArgumentException("message too long for RSA-OAEP", nameof(message));
        }

        var labelBytes = Encoding.ASCII.GetBytes(label + "\0");
        var db = new byte[k - hLen - 1];
        TpmHash.Compute(hash, labelBytes).CopyTo(db, 0);
        db[db.Length - message.Length - 1] = 0x01;
        message.CopyTo(db.AsSpan(db.Length - message.Length));
        var seed = RandomNumberGenerator.GetBytes(hLen);
        Xor(db, Mgf1(hash, seed, db.Length));
        Xor(seed, Mgf1(hash, db, hLen));
        var em = new byte[k];
        seed.CopyTo(em, 1);
        db.CopyTo(em, 1 + hLen);
        var m = new BigInteger(em, isUnsigned: true, isBigEndian: true);
        var n = new BigInteger(modulus, isUnsigned: true, isBigEndian: true);
        var e = new BigInteger(publicKey.Exponent, isUnsigned: true, isBigEndian: true);
        var c = BigInteger.ModPow(m, e, n).ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[k];
        c.CopyTo(result, k - c.Length); // left-pad to the modulus length
        return result;
    }

    private static byte[] Mgf1(TpmAlgId hash, ReadOnlySpan<byte> seed, int length)
    {
        var output = new byte[length];
        var input = new byte[seed.Length + 4];
        seed.CopyTo(input);
        var done = 0;
        for (uint counter = 0; done < length; counter++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
            var block = TpmHash.Compute(hash, input);
            var take = Math.Min(block.Length, length - done);
            block.AsSpan(0, take).CopyTo(output.AsSpan(done));
            done += take;
        }

        return output;
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> mask)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] ^= mask[i];
        }
    }
}
