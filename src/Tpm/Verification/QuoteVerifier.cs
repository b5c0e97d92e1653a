using System.Buffers.Binary;
using System.Security.Cryptography;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// Verifies a TPM2_Quote in software: the signature over the TPMS_ATTEST bytes with the AK, the magic
/// and type, extraData equal to the expected qualifying data, the quoted PCR selection equal to the
/// requested one, and the quoted PCR digest equal to <c>H_scheme(values in selection order)</c>, where the
/// hash is the AK scheme's hash (not the bank's). Each failure raises an <see cref="AttestationException"/>
/// with its own <see cref="AttestationFailure"/>.
/// </summary>
public static class QuoteVerifier
{
    /// <summary>Verifies and returns the parsed TPMS_ATTEST. Call <see cref="AkPolicy.Validate"/> on the AK first.</summary>
    public static TpmsAttest Verify(
        TpmtPublic ak,
        ReadOnlySpan<byte> attestBytes,
        TpmtSignature signature,
        ReadOnlySpan<byte> expectedQualifyingData,
        TpmlPcrSelection requested,
        IReadOnlyDictionary<(TpmAlgId Hash, int Pcr), byte[]> pcrValues)
    {
        VerifySignature(ak, attestBytes, signature);
        if (attestBytes.Length < 6 || BinaryPrimitives.ReadUInt32BigEndian(attestBytes) != TpmsAttest.GeneratedValue)
        {
            throw new AttestationException(AttestationFailure.BadMagic, "TPMS_ATTEST.magic is not TPM_GENERATED_VALUE");
        }

        if ((TpmSt)BinaryPrimitives.ReadUInt16BigEndian(attestBytes[4..]) != TpmSt.AttestQuote)
        {
            throw new AttestationException(AttestationFailure.NotAQuote, "TPMS_ATTEST.type is not TPM_ST_ATTEST_QUOTE");
        }

        if (!TpmMarshal.TryRead<TpmsAttest>(attestBytes, out var attest, out var error))
        {
            throw new AttestationException(AttestationFailure.Malformed, error!);
        }

        if (!CryptographicOperations.FixedTimeEquals(attest.ExtraData, expectedQualifyingData))
        {
            throw new AttestationException(AttestationFailure.NonceMismatch, "extraData differs from the expected qualifying data");
        }

        if (!attest.Quote.PcrSelect.SelectsSame(requested))
        {
            throw new AttestationException(AttestationFailure.PcrSelectionMismatch, "the quoted PCR selection differs from the requested one");
        }

        var digest = PcrDigest(ak.Scheme.HashAlg, attest.Quote.PcrSelect, pcrValues);
        return !CryptographicOperations.FixedTimeEquals(digest, attest.Quote.PcrDigest)
            ? throw new AttestationException(AttestationFailure.PcrDigestMismatch, "the PCR values do not produce the quoted digest")
            : attest;
    }

    /// <summary>The digest a TPM puts in TPMS_QUOTE_INFO: <c>H(PCR values concatenated in selection order)</c>.</summary>
    public static byte[] PcrDigest(TpmAlgId hash, TpmlPcrSelection selection, IReadOnlyDictionary<(TpmAlgId Hash, int Pcr), byte[]> pcrValues)
    {
        using var h = IncrementalHash.CreateHash(TpmHash.Name(hash));
        foreach (var slot in selection.Enumerate())
        {
            if (!pcrValues.TryGetValue(slot, out var value))
            {
                throw new AttestationException(AttestationFailure.PcrValueMissing, $"no value for PCR {slot.Pcr} in bank 0x{(ushort)slot.Hash:x4}");
            }

            h.AppendData(value);
        }

        return h.GetHashAndReset();
    }

    /// <summary>Checks <paramref name="signature"/> over <paramref name="signedData"/> with the AK and the AK's own scheme.</summary>
    public static void VerifySignature(TpmtPublic ak, ReadOnlySpan<byte> signedData, TpmtSignature signature)
    {
        if (signature.SigAlg != ak.Scheme.Scheme || signature.Hash != ak.Scheme.HashAlg)
        {
            throw new AttestationException(AttestationFailure.SignatureSchemeMismatch,
                $"signature 0x{(ushort)signature.SigAlg:x4}/0x{(ushort)signature.Hash:x4} but the AK scheme is 0x{(ushort)ak.Scheme.Scheme:x4}/0x{(ushort)ak.Scheme.HashAlg:x4}");
        }

        var hashName = TpmHash.Name(signature.Hash);
        bool ok;
        switch (signature.SigAlg)
        {
            case TpmAlgId.RsaSsa or TpmAlgId.RsaPss:
                {
                    using var rsa = ak.CreateRsa();
                    var padding = signature.SigAlg == TpmAlgId.RsaSsa ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss;
                    ok = rsa.VerifyData(signedData, signature.Signature, hashName, padding);
                    break;
                }

            case TpmAlgId.EcDsa:
                {
                    using var ecdsa = ak.CreateEcdsa();
                    var size = (ecdsa.KeySize + 7) / 8;
                    if (signature.R.Length > size || signature.S.Length > size)
                    {
                        ok = false;
                        break;
                    }

                    var rs = new byte[2 * size];
                    signature.R.CopyTo(rs, size - signature.R.Length);
                    signature.S.CopyTo(rs, (2 * size) - signature.S.Length);
                    ok = ecdsa.VerifyData(signedData, rs, hashName, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                    break;
                }

            default:
                throw new AttestationException(AttestationFailure.SignatureSchemeMismatch, $"unsupported signature 0x{(ushort)signature.SigAlg:x4}");
        }

        if (!ok)
        {
            throw new AttestationException(AttestationFailure.SignatureInvalid, "the quote signature does not verify with the AK");
        }
    }
}
