using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Kldload.Tpm.Device;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Attest.Bench;

/// <summary>The kind of endorsement key a simulated node's TPM holds (its AK is of the same family).</summary>
public enum SimulatedEk
{
    Rsa2048,
    EccP256,
}

/// <summary>
/// The TPM side of one simulated node, in software: an EK (TCG template L-1 RSA-2048 or L-2 ECC
/// P-256) and a restricted signing AK (<c>tpm2_createak</c>'s RSA-2048/RSASSA or P-256/ECDSA
/// template, SHA-256) with their private keys, and SHA-256 PCR values fixed for the node's life.
/// It quotes as TPM2_Quote does (Part 3, 18.4) and activates credentials as TPM2_ActivateCredential
/// does (Part 1, 24.4-24.5), with its own KDFs: nothing here calls kldload's verifier code, so the
/// server and this generator check each other.
/// </summary>
public sealed class SimulatedTpm : IDisposable
{
    private readonly RSAOpenSsl? _ekRsa;
    private readonly ECDiffieHellman? _ekEcc;
    private readonly RSA? _akRsa;
    private readonly ECDsa? _akEcc;
    private readonly byte[] _akName;
    private readonly Dictionary<int, byte[]> _pcrs;
    private ulong _clock;

    /// <summary>A node from private keys (PKCS#8 DER): its EK, its AK, and a seed for its PCR values.</summary>
    public SimulatedTpm(SimulatedEk kind, ReadOnlySpan<byte> ekPkcs8, ReadOnlySpan<byte> akPkcs8, int pcrSeed)
    {
        Kind = kind;
        if (kind == SimulatedEk.Rsa2048)
        {
            _ekRsa = new RSAOpenSsl();
            _ekRsa.ImportPkcs8PrivateKey(ekPkcs8, out _);
            _akRsa = RSA.Create();
            _akRsa.ImportPkcs8PrivateKey(akPkcs8, out _);
            EkPublic = TpmTemplates.Ek(EkKind.RsaL1).WithUnique(_ekRsa.ExportParameters(false).Modulus!);
            AkPublic = TpmTemplates.AkRsa2048().WithUnique(_akRsa.ExportParameters(false).Modulus!);
        }
        else
        {
            _ekEcc = ECDiffieHellman.Create();
            _ekEcc.ImportPkcs8PrivateKey(ekPkcs8, out _);
            _akEcc = ECDsa.Create();
            _akEcc.ImportPkcs8PrivateKey(akPkcs8, out _);
            var ek = _ekEcc.ExportParameters(false).Q;
            var ak = _akEcc.ExportParameters(false).Q;
            EkPublic = TpmTemplates.Ek(EkKind.EccP256L2).WithUnique(ek.X!, ek.Y!);
            AkPublic = TpmTemplates.AkEccP256().WithUnique(ak.X!, ak.Y!);
        }

        _akName = AkPublic.Name();
        _pcrs = [];
        for (var i = 0; i < 24; i++)
        {
            _pcrs[i] = SHA256.HashData(Encoding.ASCII.GetBytes($"kldload-attest-bench/pcr/{pcrSeed}/{i}"));
        }
    }

    public SimulatedEk Kind { get; }

    public TpmtPublic EkPublic { get; }

    public TpmtPublic AkPublic { get; }

    /// <summary>A new private key of the family, PKCS#8 DER (for the key cache).</summary>
    public static byte[] NewPrivateKey(SimulatedEk kind)
    {
        if (kind == SimulatedEk.Rsa2048)
        {
            using var rsa = RSA.Create(2048);
            return rsa.ExportPkcs8PrivateKey();
        }

        using var ecc = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        return ecc.ExportPkcs8PrivateKey();
    }

    /// <summary>The SHA-256 value of one PCR.</summary>
    public byte[] Pcr(int index) => _pcrs[index];

    /// <summary>
    /// TPM2_Quote over the SHA-256 PCRs <paramref name="pcrs"/>: the marshalled TPMS_ATTEST (Part 2,
    /// 10.12.12) and the AK's TPMT_SIGNATURE over it.
    /// </summary>
    public (byte[] Attest, TpmtSignature Signature) Quote(ReadOnlySpan<byte> qualifyingData, IReadOnlyList<int> pcrs)
    {
        var sorted = pcrs.Order().ToArray();
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, sorted);
        var concatenated = new byte[32 * sorted.Length];
        for (var i = 0; i < sorted.Length; i++)
        {
            _pcrs[sorted[i]].CopyTo(concatenated, 32 * i);
        }

        var attest = new TpmsAttest(
            TpmsAttest.GeneratedValue,
            TpmSt.AttestQuote,
            _akName,
            qualifyingData.ToArray(),
            new TpmsClockInfo(Interlocked.Add(ref _clock, 1000), 1, 0, true),
            0x2023_0001_0000_0000,
            new TpmsQuoteInfo(selection, SHA256.HashData(concatenated)));
        var bytes = TpmMarshal.ToBytes(attest);
        if (_akRsa is not null)
        {
            return (bytes, TpmtSignature.Rsa(TpmAlgId.RsaSsa, TpmAlgId.Sha256, _akRsa.SignData(bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
        }

        var rs = _akEcc!.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return (bytes, TpmtSignature.Ecc(TpmAlgId.EcDsa, TpmAlgId.Sha256, rs[..32], rs[32..]));
    }

    /// <summary>
    /// TPM2_ActivateCredential with this node's AK loaded: recovers the seed with the EK's private key,
    /// checks the integrity HMAC over <c>encIdentity || AK name</c> and decrypts the credential.
    /// Throws <see cref="CryptographicException"/> where the TPM answers TPM_RC_INTEGRITY or TPM_RC_VALUE.
    /// </summary>
    public byte[] ActivateCredential(Tpm2bIdObject credentialBlob, Tpm2bEncryptedSecret encryptedSecret)
    {
        ArgumentNullException.ThrowIfNull(credentialBlob);
        ArgumentNullException.ThrowIfNull(encryptedSecret);
        var seed = RecoverSeed(encryptedSecret.Secret);

        // Part 1, 24.5: HMAC key = KDFa(nameAlg, seed, "INTEGRITY", none, none, digest bits).
        var hmacKey = KdfA(seed, "INTEGRITY", [], 256);
        var expected = HMACSHA256.HashData(hmacKey, (byte[])[.. credentialBlob.EncIdentity, .. _akName]);
        if (!CryptographicOperations.FixedTimeEquals(expected, credentialBlob.IntegrityHmac))
        {
            throw new CryptographicException("TPM_RC_INTEGRITY: the credential's integrity HMAC does not match this EK and AK");
        }

        // Part 1, 24.4: symmetric key = KDFa(nameAlg, seed, "STORAGE", AK name, none, EK symmetric key bits);
        // encIdentity = AES-CFB(key, IV = 0, TPM2B_DIGEST credential).
        var symmetricKey = KdfA(seed, "STORAGE", _akName, EkPublic.Symmetric.KeyBits);
        using var aes = Aes.Create();
        aes.Key = symmetricKey;
        var encrypted = credentialBlob.EncIdentity;
        var padded = new byte[(encrypted.Length + 15) / 16 * 16];
        encrypted.CopyTo(padded, 0);
        var plain = aes.DecryptCfb(padded, new byte[16], PaddingMode.None, feedbackSizeInBits: 128).AsSpan(0, encrypted.Length);
        var size = plain.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(plain) : -1;
        if (size < 0 || size > plain.Length - 2)
        {
            throw new CryptographicException("TPM_RC_SIZE: the decrypted credential is not a TPM2B_DIGEST");
        }

        return plain.Slice(2, size).ToArray();
    }

    private byte[] RecoverSeed(byte[] encryptedSecret)
    {
        if (_ekRsa is not null)
        {
            // Part 1, annex B.10.3: RSA-OAEP(SHA-256) with the label "IDENTITY\0".
            return LibCryptoRsaOaep.Decrypt(_ekRsa, TpmAlgId.Sha256, "IDENTITY\0"u8, encryptedSecret);
        }

        // Part 1, annex C.6.4: the secret is the ephemeral point Q_e; Z = x(d_EK · Q_e);
        // seed = KDFe(nameAlg, Z, "IDENTITY", x(Q_e), x(Q_EK), digest bits).
        var point = TpmMarshal.Read<TpmsEccPoint>(encryptedSecret);
        // A TPM2B coordinate may come without its leading zero bytes (tpm2_makecredential writes
        // OpenSSL's minimal form about once in 128 points); .NET wants both at the curve's 32 bytes.
        using var peer = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = Pad32(point.X), Y = Pad32(point.Y) } });
        var z = _ekEcc!.DeriveRawSecretAgreement(peer.PublicKey);
        var input = new byte[4 + z.Length + 9 + point.X.Length + EkPublic.EccX.Length];
        BinaryPrimitives.WriteUInt32BigEndian(input, 1);
        z.CopyTo(input, 4);
        "IDENTITY\0"u8.CopyTo(input.AsSpan(4 + z.Length));
        point.X.CopyTo(input, 4 + z.Length + 9);
        EkPublic.EccX.CopyTo(input, 4 + z.Length + 9 + point.X.Length);
        return SHA256.HashData(input);
    }

    private static byte[] Pad32(byte[] coordinate) =>
        coordinate.Length >= 32 ? coordinate : [.. new byte[32 - coordinate.Length], .. coordinate];

    /// <summary>KDFa with HMAC-SHA-256 (Part 1, 11.4.10.2); <paramref name="bits"/> at most 256 here.</summary>
    private static byte[] KdfA(ReadOnlySpan<byte> key, string label, ReadOnlySpan<byte> contextU, int bits)
    {
        var labelBytes = Encoding.ASCII.GetBytes(label);
        var input = new byte[4 + labelBytes.Length + 1 + contextU.Length + 4];
        BinaryPrimitives.WriteUInt32BigEndian(input, 1);
        labelBytes.CopyTo(input, 4);
        contextU.CopyTo(input.AsSpan(4 + labelBytes.Length + 1));
        BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(input.Length - 4), (uint)bits);
        return HMACSHA256.HashData(key, input)[..(bits / 8)];
    }

    public void Dispose()
    {
        _ekRsa?.Dispose();
        _ekEcc?.Dispose();
        _akRsa?.Dispose();
        _akEcc?.Dispose();
    }
}
