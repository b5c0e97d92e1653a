using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>Policy digests computed in software (TPM 2.0 Part 3, clause 23: each assertion extends policyDigest).</summary>
public static class TpmPolicyDigest
{
    /// <summary>The initial policyDigest: all zeros, digest-sized.</summary>
    public static byte[] Empty(TpmAlgId hash) => new byte[TpmHash.DigestSize(hash)];

    /// <summary>
    /// TPM2_PolicyPCR: <c>H(policyDigest || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(PCR values in selection order))</c>.
    /// </summary>
    public static byte[] PolicyPcr(TpmAlgId hash, ReadOnlySpan<byte> current, TpmlPcrSelection pcrs, IEnumerable<byte[]> values)
    {
        var pcrDigest = TpmHash.Compute(hash, values.SelectMany(v => v).ToArray());
        Span<byte> buffer = stackalloc byte[512];
        var w = new TpmWriter(buffer);
        w.WriteBytes(current);
        w.WriteUInt32((uint)TpmCommandCode.PolicyPcr);
        pcrs.Write(ref w);
        w.WriteBytes(pcrDigest);
        return TpmHash.Compute(hash, w.Written);
    }

    /// <summary>TPM2_PolicySecret without policyRef: <c>H(H(policyDigest || TPM_CC_PolicySecret || authObjectName) || policyRef)</c>.</summary>
    public static byte[] PolicySecret(TpmAlgId hash, ReadOnlySpan<byte> current, ReadOnlySpan<byte> authObjectName)
    {
        Span<byte> buffer = stackalloc byte[256];
        var w = new TpmWriter(buffer);
        w.WriteBytes(current);
        w.WriteUInt32((uint)TpmCommandCode.PolicySecret);
        w.WriteBytes(authObjectName);
        var first = TpmHash.Compute(hash, w.Written);
        return TpmHash.Compute(hash, first);
    }

    /// <summary>TPM2_PolicyOR: <c>H(0 || TPM_CC_PolicyOR || digests...)</c>.</summary>
    public static byte[] PolicyOr(TpmAlgId hash, IEnumerable<byte[]> digests)
    {
        Span<byte> buffer = stackalloc byte[1024];
        var w = new TpmWriter(buffer);
        w.WriteBytes(Empty(hash));
        w.WriteUInt32((uint)TpmCommandCode.PolicyOr);
        foreach (var d in digests)
        {
            w.WriteBytes(d);
        }

        return TpmHash.Compute(hash, w.Written);
    }
}
