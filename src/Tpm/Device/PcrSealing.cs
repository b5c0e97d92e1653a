using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Device;

/// <summary>
/// Sealing a small secret to PCR values: a keyedHash sealed-data object under an ECC storage root key
/// in the owner hierarchy, whose authPolicy is TPM2_PolicyPCR over the current values. Every transient
/// object and session is flushed before returning, on success and on failure.
/// </summary>
public static class PcrSealing
{
    /// <summary>Seals <paramref name="secret"/> (at most 128 bytes) to the current values of <paramref name="pcrs"/>.</summary>
    public static TpmCreatedObject Seal(Tpm2 tpm, ReadOnlySpan<byte> secret, TpmlPcrSelection pcrs)
    {
        var values = tpm.PcrRead(pcrs);
        var ordered = pcrs.Enumerate().Select(p => values[p]).ToList();
        var policy = TpmPolicyDigest.PolicyPcr(TpmAlgId.Sha256, TpmPolicyDigest.Empty(TpmAlgId.Sha256), pcrs, ordered);
        var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkEccP256());
        try
        {
            return tpm.Create(srk.Handle, TpmTemplates.SealedData(policy), TpmAuth.EmptyPassword, secret);
        }
        finally
        {
            tpm.TryFlushContext(srk.Handle);
        }
    }

    /// <summary>Unseals; fails with TPM_RC_POLICY_FAIL when a PCR in <paramref name="pcrs"/> changed since sealing.</summary>
    public static byte[] Unseal(Tpm2 tpm, TpmCreatedObject sealedObject, TpmlPcrSelection pcrs)
    {
        var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkEccP256());
        try
        {
            var obj = tpm.Load(srk.Handle, sealedObject, TpmAuth.EmptyPassword);
            try
            {
                using var session = PolicySession.Start(tpm);
                tpm.PolicyPcr(session.Handle, pcrs);
                return tpm.Unseal(obj.Handle, session.Auth);
            }
            finally
            {
                tpm.TryFlushContext(obj.Handle);
            }
        }
        finally
        {
            tpm.TryFlushContext(srk.Handle);
        }
    }
}
