using System.Security.Cryptography;
using System.Text;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Verification;

/// <summary>
/// OpenSSL's RSA-OAEP with a label (what MakeCredential uses) against the managed reference
/// <see cref="RsaOaepLabel"/>: each decrypts what the other's encoding produced, and a wrong label fails.
/// </summary>
public sealed class LibCryptoRsaOaepTests : IDisposable
{
    private readonly RSAOpenSsl _key = new(2048);

    public void Dispose() => _key.Dispose();

    [Theory]
    [InlineData(TpmAlgId.Sha256, 32)]
    [InlineData(TpmAlgId.Sha384, 48)]
    [InlineData(TpmAlgId.Sha1, 20)]
    public void Decrypt_ManagedReferenceCiphertext_ReturnsMessage(TpmAlgId hash, int length)
    {
        var message = RandomNumberGenerator.GetBytes(length);
        var ciphertext = RsaOaepLabel.Encrypt(_key.ExportParameters(false), hash, "IDENTITY", message);

        Assert.Equal(message, LibCryptoRsaOaep.Decrypt(_key, hash, "IDENTITY\0"u8, ciphertext));
    }

    [Theory]
    [InlineData(TpmAlgId.Sha256)]
    [InlineData(TpmAlgId.Sha384)]
    public void Encrypt_ThenDecrypt_ReturnsMessageAndIsRandomized(TpmAlgId hash)
    {
        var message = RandomNumberGenerator.GetBytes(32);
        var a = LibCryptoRsaOaep.Encrypt(_key.ExportParameters(false), hash, "IDENTITY\0"u8, message);
        var b = LibCryptoRsaOaep.Encrypt(_key.ExportParameters(false), hash, "IDENTITY\0"u8, message);

        Assert.Equal(256, a.Length);
        Assert.NotEqual(a, b);
        Assert.Equal(message, LibCryptoRsaOaep.Decrypt(_key, hash, "IDENTITY\0"u8, a));
    }

    [Fact]
    public void Decrypt_OtherLabel_Throws()
    {
        var ciphertext = LibCryptoRsaOaep.Encrypt(_key.ExportParameters(false), TpmAlgId.Sha256, "IDENTITY\0"u8, new byte[32]);

        Assert.Throws<CryptographicException>(() => LibCryptoRsaOaep.Decrypt(_key, TpmAlgId.Sha256, Encoding.ASCII.GetBytes("DUPLICATE\0"), ciphertext));
    }

    [Fact]
    public void Decrypt_NoLabelCiphertextOfDotNet_ThrowsWithLabel()
    {
        // .NET's own OAEP uses the empty label: the TPM (and so this decryption with "IDENTITY") refuses it.
        var ciphertext = _key.Encrypt(new byte[32], RSAEncryptionPadding.OaepSHA256);

        Assert.Equal(new byte[32], LibCryptoRsaOaep.Decrypt(_key, TpmAlgId.Sha256, [], ciphertext));
        Assert.Throws<CryptographicException>(() => LibCryptoRsaOaep.Decrypt(_key, TpmAlgId.Sha256, "IDENTITY\0"u8, ciphertext));
    }
}
