using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// RSAES-OAEP with a label through the libcrypto the .NET runtime itself loads on Linux (OpenSSL 3):
/// .NET's <see cref="RSA"/> has no OAEP label, but the key it holds is an OpenSSL <c>EVP_PKEY</c>
/// (<see cref="RSAOpenSsl.DuplicateKeyHandle"/>), and <c>EVP_PKEY_CTX_set0_rsa_oaep_label</c> sets
/// the label. The TPM uses the label <c>"IDENTITY\0"</c> for credential seeds (TPM 2.0 Part 1, annex B.10.3).
/// </summary>
public static class LibCryptoRsaOaep
{
    private const string LibCrypto = "libcrypto.so.3";
    private const int RsaPkcs1OaepPadding = 4;

    /// <summary>Encrypts <paramref name="message"/> to <paramref name="publicKey"/> with OAEP(<paramref name="hash"/>, MGF1(<paramref name="hash"/>), label).</summary>
    public static byte[] Encrypt(RSAParameters publicKey, TpmAlgId hash, ReadOnlySpan<byte> label, ReadOnlySpan<byte> message)
    {
        using var key = new RSAOpenSsl(publicKey);
        return Run(key, hash, label, message, encrypt: true);
    }

    /// <summary>Decrypts an OAEP ciphertext with the private key (the TPM's side; the bench and the tests use it).</summary>
    public static byte[] Decrypt(RSAOpenSsl privateKey, TpmAlgId hash, ReadOnlySpan<byte> label, ReadOnlySpan<byte> ciphertext) =>
        Run(privateKey, hash, label, ciphertext, encrypt: false);

    private static byte[] Run(RSAOpenSsl openSsl, TpmAlgId hash, ReadOnlySpan<byte> label, ReadOnlySpan<byte> input, bool encrypt)
    {
        ArgumentNullException.ThrowIfNull(openSsl);
        var md = hash switch
        {
            TpmAlgId.Sha1 => EVP_sha1(),
            TpmAlgId.Sha256 => EVP_sha256(),
            TpmAlgId.Sha384 => EVP_sha384(),
            TpmAlgId.Sha512 => EVP_sha512(),
            _ => throw new ArgumentException($"hash 0x{(ushort)hash:x4} is not supported for OAEP", nameof(hash)),
        };
        using var pkey = openSsl.DuplicateKeyHandle();
        var ctx = EVP_PKEY_CTX_new(pkey.DangerousGetHandle(), IntPtr.Zero);
        if (ctx == IntPtr.Zero)
        {
            throw new CryptographicException("EVP_PKEY_CTX_new failed");
        }

        try
        {
            Check(encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx), "init");
            Check(EVP_PKEY_CTX_set_rsa_padding(ctx, RsaPkcs1OaepPadding), "set_rsa_padding");
            Check(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md), "set_rsa_oaep_md");
            Check(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md), "set_rsa_mgf1_md");

            // set0 takes ownership of the label: it must come from OpenSSL's allocator.
            var copy = CRYPTO_malloc((nuint)Math.Max(label.Length, 1), IntPtr.Zero, 0);
            if (copy == IntPtr.Zero)
            {
                throw new OutOfMemoryException("CRYPTO_malloc failed");
            }

            Marshal.Copy(label.ToArray(), 0, copy, label.Length);
            if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, label.Length) <= 0)
            {
                CRYPTO_free(copy, IntPtr.Zero, 0);
                throw new CryptographicException("EVP_PKEY_CTX_set0_rsa_oaep_label failed");
            }

            var inBytes = input.ToArray();
            var output = new byte[openSsl.KeySize / 8];
            var length = (nuint)output.Length;
            var ok = encrypt
                ? EVP_PKEY_encrypt(ctx, output, ref length, inBytes, (nuint)inBytes.Length)
                : EVP_PKEY_decrypt(ctx, output, ref length, inBytes, (nuint)inBytes.Length);
            Check(ok, encrypt ? "EVP_PKEY_encrypt" : "EVP_PKEY_decrypt");
            return output[..(int)length];
        }
        finally
        {
            EVP_PKEY_CTX_free(ctx);
        }
    }

    private static void Check(int result, string what)
    {
        if (result <= 0)
        {
            // Leave nothing on this thread's OpenSSL error queue for the runtime to misattribute.
            ERR_clear_error();
            throw new CryptographicException($"OpenSSL {what} failed");
        }
    }

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_sha1();

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_sha256();

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_sha384();

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_sha512();

    [DllImport(LibCrypto)]
    private static extern IntPtr EVP_PKEY_CTX_new(IntPtr pkey, IntPtr engine);

    [DllImport(LibCrypto)]
    private static extern void EVP_PKEY_CTX_free(IntPtr ctx);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_encrypt_init(IntPtr ctx);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_decrypt_init(IntPtr ctx);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_CTX_set_rsa_padding(IntPtr ctx, int padding);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_CTX_set_rsa_oaep_md(IntPtr ctx, IntPtr md);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_CTX_set_rsa_mgf1_md(IntPtr ctx, IntPtr md);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_CTX_set0_rsa_oaep_label(IntPtr ctx, IntPtr label, int length);

    [DllImport(LibCrypto)]
    private static extern IntPtr CRYPTO_malloc(nuint size, IntPtr file, int line);

    [DllImport(LibCrypto)]
    private static extern void CRYPTO_free(IntPtr pointer, IntPtr file, int line);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_encrypt(IntPtr ctx, byte[] output, ref nuint outputLength, byte[] input, nuint inputLength);

    [DllImport(LibCrypto)]
    private static extern int EVP_PKEY_decrypt(IntPtr ctx, byte[] output, ref nuint outputLength, byte[] input, nuint inputLength);

    [DllImport(LibCrypto)]
    private static extern void ERR_clear_error();
}
