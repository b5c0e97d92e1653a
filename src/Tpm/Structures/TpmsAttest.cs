using Kldload.Tpm.Marshalling;

namespace Kldload.Tpm.Structures;

/// <summary>
/// TPMS_CLOCK_INFO (TPM 2.0 Part 2, table 120).
/// <code>
/// clock u64 | resetCount u32 | restartCount u32 | safe u8
/// </code>
/// resetCount and restartCount are obfuscated unless the signing key is in the endorsement or platform hierarchy.
/// </summary>
public readonly record struct TpmsClockInfo(ulong Clock, uint ResetCount, uint RestartCount, bool Safe) : ITpmStructure<TpmsClockInfo>
{
    public static bool TryRead(ref TpmReader reader, out TpmsClockInfo value)
    {
        var clock = reader.ReadUInt64("TPMS_CLOCK_INFO.clock");
        var reset = reader.ReadUInt32("TPMS_CLOCK_INFO.resetCount");
        var restart = reader.ReadUInt32("TPMS_CLOCK_INFO.restartCount");
        var safe = reader.ReadByte("TPMS_CLOCK_INFO.safe");
        if (safe > 1)
        {
            reader.Fail($"TPMS_CLOCK_INFO.safe {safe} is not a TPMI_YES_NO");
        }

        value = new TpmsClockInfo(clock, reset, restart, safe == 1);
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt64(Clock);
        writer.WriteUInt32(ResetCount);
        writer.WriteUInt32(RestartCount);
        writer.WriteByte(Safe ? (byte)1 : (byte)0);
    }
}

/// <summary>
/// TPMS_QUOTE_INFO (TPM 2.0 Part 2, table 124).
/// <code>
/// pcrSelect TPML_PCR_SELECTION | pcrDigest TPM2B_DIGEST
/// </code>
/// </summary>
public sealed record TpmsQuoteInfo(TpmlPcrSelection PcrSelect, byte[] PcrDigest) : ITpmStructure<TpmsQuoteInfo>
{
    public static bool TryRead(ref TpmReader reader, out TpmsQuoteInfo value)
    {
        value = null!;
        if (!TpmlPcrSelection.TryRead(ref reader, out var select))
        {
            return false;
        }

        var digest = reader.ReadSizedArray("TPMS_QUOTE_INFO.pcrDigest", 64);
        value = new TpmsQuoteInfo(select, digest);
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        PcrSelect.Write(ref writer);
        writer.WriteSized(PcrDigest);
    }
}

/// <summary>
/// TPMS_ATTEST (TPM 2.0 Part 2, table 131): what the TPM signs in TPM2_Quote (the content of TPM2B_ATTEST).
/// Only the quote variant (type TPM_ST_ATTEST_QUOTE) of the TPMU_ATTEST union is decoded.
/// <code>
/// magic u32 (ff544347) | type u16 (8018) | qualifiedSigner TPM2B_NAME | extraData TPM2B_DATA
/// clockInfo TPMS_CLOCK_INFO (17 B) | firmwareVersion u64 | attested TPMS_QUOTE_INFO
/// </code>
/// </summary>
public sealed record TpmsAttest(
    uint Magic,
    TpmSt Type,
    byte[] QualifiedSigner,
    byte[] ExtraData,
    TpmsClockInfo ClockInfo,
    ulong FirmwareVersion,
    TpmsQuoteInfo Quote) : ITpmStructure<TpmsAttest>
{
    /// <summary>TPM_GENERATED_VALUE: the TPM puts it in front of everything it signs.</summary>
    public const uint GeneratedValue = 0xFF544347;

    public static bool TryRead(ref TpmReader reader, out TpmsAttest value)
    {
        value = null!;
        var magic = reader.ReadUInt32("TPMS_ATTEST.magic");
        var type = (TpmSt)reader.ReadUInt16("TPMS_ATTEST.type");
        var signer = reader.ReadSizedArray("TPMS_ATTEST.qualifiedSigner", 2 + 64);
        var extra = reader.ReadSizedArray("TPMS_ATTEST.extraData", 64);
        TpmsClockInfo.TryRead(ref reader, out var clock);
        var firmware = reader.ReadUInt64("TPMS_ATTEST.firmwareVersion");
        if (reader.Failed)
        {
            return false;
        }

        if (type != TpmSt.AttestQuote)
        {
            reader.Fail($"TPMS_ATTEST.type 0x{(ushort)type:x4} is not TPM_ST_ATTEST_QUOTE");
            return false;
        }

        if (!TpmsQuoteInfo.TryRead(ref reader, out var quote))
        {
            return false;
        }

        value = new TpmsAttest(magic, type, signer, extra, clock, firmware, quote);
        return true;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt32(Magic);
        writer.WriteUInt16((ushort)Type);
        writer.WriteSized(QualifiedSigner);
        writer.WriteSized(ExtraData);
        ClockInfo.Write(ref writer);
        writer.WriteUInt64(FirmwareVersion);
        Quote.Write(ref writer);
    }
}

/// <summary>
/// TPMT_SIGNATURE (TPM 2.0 Part 2, table 185).
/// <code>
/// sigAlg u16 | hash u16 | RSASSA/RSAPSS: TPM2B sig           | ECDSA/ECSCHNORR/SM2: TPM2B r | TPM2B s
/// sigAlg = TPM_ALG_NULL: nothing follows
/// </code>
/// </summary>
public sealed record TpmtSignature(TpmAlgId SigAlg, TpmAlgId Hash, byte[] Signature, byte[] R, byte[] S) : ITpmStructure<TpmtSignature>
{
    public static TpmtSignature Rsa(TpmAlgId scheme, TpmAlgId hash, byte[] signature) => new(scheme, hash, signature, [], []);

    public static TpmtSignature Ecc(TpmAlgId scheme, TpmAlgId hash, byte[] r, byte[] s) => new(scheme, hash, [], r, s);

    public static bool TryRead(ref TpmReader reader, out TpmtSignature value)
    {
        value = null!;
        var alg = (TpmAlgId)reader.ReadUInt16("TPMT_SIGNATURE.sigAlg");
        if (reader.Failed)
        {
            return false;
        }

        switch (alg)
        {
            case TpmAlgId.Null:
                value = new TpmtSignature(alg, TpmAlgId.Null, [], [], []);
                return true;
            case TpmAlgId.RsaSsa or TpmAlgId.RsaPss:
                {
                    var hash = (TpmAlgId)reader.ReadUInt16("TPMS_SIGNATURE_RSA.hash");
                    var sig = reader.ReadSizedArray("TPMS_SIGNATURE_RSA.sig", 512);
                    value = Rsa(alg, hash, sig);
                    return !reader.Failed;
                }

            case TpmAlgId.EcDsa or TpmAlgId.EcSchnorr:
                {
                    var hash = (TpmAlgId)reader.ReadUInt16("TPMS_SIGNATURE_ECC.hash");
                    var r = reader.ReadSizedArray("TPMS_SIGNATURE_ECC.signatureR", 128);
                    var s = reader.ReadSizedArray("TPMS_SIGNATURE_ECC.signatureS", 128);
                    value = Ecc(alg, hash, r, s);
                    return !reader.Failed;
                }

            default:
                reader.Fail($"unsupported TPMT_SIGNATURE.sigAlg 0x{(ushort)alg:x4}");
                return false;
        }
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt16((ushort)SigAlg);
        if (SigAlg == TpmAlgId.Null)
        {
            return;
        }

        writer.WriteUInt16((ushort)Hash);
        if (SigAlg is TpmAlgId.RsaSsa or TpmAlgId.RsaPss)
        {
            writer.WriteSized(Signature);
        }
        else
        {
            writer.WriteSized(R);
            writer.WriteSized(S);
        }
    }
}
