using System.Buffers.Binary;
using System.Security.Cryptography;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>A credential for TPM2_ActivateCredential: the blob and the encrypted seed.</summary>
public sealed record MadeCredential(Tpm2bIdObject CredentialBlob, Tpm2bEncryptedSecret Secret)
{
    /// <summary>tpm2-tools' credential file: <c>BADCC0DE | 00000001 | TPM2B_ID_OBJECT | TPM2B_ENCRYPTED_SECRET</c>.</summary>
    public byte[] ToToolsFile()
    {
        var buffer = new byte[4096];
        var w = new TpmWriter(buffer);
        w.WriteUInt32(ToolsMagic);
        w.WriteUInt32(1);
        CredentialBlob.Write(ref w);
        Secret.Write(ref w);
        return buffer[..w.Position];
    }

    private const uint ToolsMagic = 0xBADCC0DE;

    /// <summary>Reads a tpm2-tools credential file (tpm2_makecredential -o).</summary>
    public static MadeCredential FromToolsFile(ReadOnlySpan<byte> file)
    {
        var r = new TpmReader(file);
        if (r.ReadUInt32("magic") != ToolsMagic || r.ReadUInt32("version") != 1)
        {
            r.Fail("not a tpm2-tools credential file");
        }

        Tpm2bIdObject.TryRead(ref r, out var blob);
        Tpm2bEncryptedSecret.TryRead(ref r, out var secret);
        r.ExpectEnd("credential file");
        return r.Failed ? throw new AttestationException(AttestationFailure.Malformed, r.Error!) : new MadeCredential(blob, secret);
    }
}

/// <summary>
/// TPM2_MakeCredential in software (TPM 2.0 Part 1, clause 24; Part 3, 12.6): protects a secret so only the
/// TPM holding <c>ek</c>, with the object named <c>akName</c> loaded, can recover it with
/// TPM2_ActivateCredential. Every hash, KDF and HMAC uses the EK's nameAlg; AES key size is the EK's.
/// </summary>
public static class CredentialMaker
{
    public static MadeCredential Make(TpmtPublic ek, ReadOnlySpan<byte> akName, ReadOnlySpan<byte> secret) => ek.Type switch
    {
        TpmAlgId.Rsa => MakeRsa(ek, akName, secret, null),
        TpmAlgId.Ecc => MakeEcc(ek, akName, secret, null),
        _ => throw new AttestationException(AttestationFailure.EkUnsupported, $"EK type 0x{(ushort)ek.Type:x4}"),
    };

    /// <summary>
    /// RSA EK: the seed is RSA-OAEP encrypted with label "IDENTITY\0" (OpenSSL's, through
    /// <see cref="LibCryptoRsaOaep"/>; <see cref="RsaOaepLabel"/> is the slower managed reference the
    /// tests hold it to). A fixed <paramref name="seed"/> is for known-answer tests.
    /// </summary>
    public static MadeCredential MakeRsa(TpmtPublic ek, ReadOnlySpan<byte> akName, ReadOnlySpan<byte> secret, byte[]? seed)
    {
        CheckEk(ek, secret);
        seed ??= RandomNumberGenerator.GetBytes(TpmHash.DigestSize(ek.NameAlg));
        var encrypted = LibCryptoRsaOaep.Encrypt(ek.RsaParameters(), ek.NameAlg, "IDENTITY\0"u8, seed);
        return Protect(ek, akName, secret, seed, encrypted);
    }

    /// <summary>
    /// ECC EK: an ephemeral key on the EK's curve; <c>seed = KDFe(nameAlg, x(d_e·Q_EK), "IDENTITY", x_e, x_EK)</c>
    /// and the encrypted secret is the ephemeral public point. A fixed <paramref name="ephemeralPrivate"/> is for known-answer tests.
    /// </summary>
    public static MadeCredential MakeEcc(TpmtPublic ek, ReadOnlySpan<byte> akName, ReadOnlySpan<byte> secret, byte[]? ephemeralPrivate)
    {
        CheckEk(ek, secret);
        using var ekKey = ECDiffieHellman.Create(ek.EcParameters());
        using var ephemeral = ephemeralPrivate is null
            ? ECDiffieHellman.Create(ek.EcCurve())
            : ECDiffieHellman.Create(new ECParameters { Curve = ek.EcCurve(), D = ephemeralPrivate });
        var z = ephemeral.DeriveRawSecretAgreement(ekKey.PublicKey);
        var point = ephemeral.ExportParameters(false).Q;
        var digestBits = TpmHash.DigestSize(ek.NameAlg) * 8;
        var seed = TpmKdf.KdfE(ek.NameAlg, z, "IDENTITY", point.X, ek.EccX, digestBits);
        var encrypted = TpmMarshal.ToBytes(new TpmsEccPoint(point.X!, point.Y!));
        return Protect(ek, akName, secret, seed, encrypted);
    }

    /// <summary>The seed-dependent part shared by RSA and ECC (Part 1, 24.4 and 24.5).</summary>
    internal static MadeCredential Protect(TpmtPublic ek, ReadOnlySpan<byte> akName, ReadOnlySpan<byte> secret, byte[] seed, byte[] encryptedSeed)
    {
        var hash = ek.NameAlg;
        var symKey = TpmKdf.KdfA(hash, seed, "STORAGE", akName, [], ek.Symmetric.KeyBits);
        var plain = new byte[2 + secret.Length];
        BinaryPrimitives.WriteUInt16BigEndian(plain, (ushort)secret.Length);
        secret.CopyTo(plain.AsSpan(2));
        var encIdentity = AesCfbZeroIv(symKey, plain);
        var hmacKey = TpmKdf.KdfA(hash, seed, "INTEGRITY", [], [], TpmHash.DigestSize(hash) * 8);
        var hmacInput = new byte[encIdentity.Length + akName.Length];
        encIdentity.CopyTo(hmacInput, 0);
        akName.CopyTo(hmacInput.AsSpan(encIdentity.Length));
        var integrity = TpmHash.Hmac(hash, hmacKey, hmacInput);
        return new MadeCredential(new Tpm2bIdObject(integrity, encIdentity), new Tpm2bEncryptedSecret(encryptedSeed));
    }

    /// <summary>AES-CFB with 128-bit feedback and a zero IV; .NET wants whole blocks, CFB is a stream mode, so pad and cut.</summary>
    internal static byte[] AesCfbZeroIv(byte[] key, ReadOnlySpan<byte> plain)
    {
        using var aes = Aes.Create();
        aes.Key = key;
        var padded = new byte[(plain.Length + 15) / 16 * 16];
        plain.CopyTo(padded);
        var cipher = aes.EncryptCfb(padded, new byte[16], PaddingMode.None, feedbackSizeInBits: 128);
        return cipher[..plain.Length];
    }

    private static void CheckEk(TpmtPublic ek, ReadOnlySpan<byte> secret)
    {
        if (ek.Symmetric.Algorithm != TpmAlgId.Aes || ek.Symmetric.Mode != TpmAlgId.Cfb)
        {
            throw new AttestationException(AttestationFailure.EkUnsupported, "EK symmetric algorithm is not AES-CFB");
        }

        if (TpmHash.DigestSize(ek.NameAlg) == 0)
        {
            throw new AttestationException(AttestationFailure.EkUnsupported, $"EK nameAlg 0x{(ushort)ek.NameAlg:x4}");
        }

        if (secret.Length == 0 || secret.Length > TpmHash.DigestSize(ek.NameAlg))
        {
            throw new ArgumentException("the credential must be 1..digest-size bytes", nameof(secret));
        }
    }
}
