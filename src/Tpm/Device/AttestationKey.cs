using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>
/// An attestation key: a restricted signing key created under the EK (as <c>tpm2_createak</c> does) and
/// loaded as a transient object, flushed on dispose. <see cref="Blob"/> reloads it later under the same EK.
/// </summary>
public sealed class AttestationKey : IDisposable
{
    private readonly Tpm2 _tpm;

    private AttestationKey(Tpm2 tpm, TpmObject obj, TpmCreatedObject blob)
    {
        _tpm = tpm;
        Handle = obj.Handle;
        Public = blob.Public;
        Name = obj.Name;
        Blob = blob;
    }

    public uint Handle { get; }

    public TpmtPublic Public { get; }

    /// <summary>The Name the verifier binds the credential to: nameAlg || H(TPMT_PUBLIC).</summary>
    public byte[] Name { get; }

    public TpmCreatedObject Blob { get; }

    /// <summary>Creates and loads an AK from <paramref name="template"/> (see <see cref="TpmTemplates.AkRsa2048"/>).</summary>
    public static AttestationKey Create(Tpm2 tpm, EndorsementKey ek, TpmtPublic template)
    {
        TpmCreatedObject blob;
        var (auth, session) = ek.Authorize();
        using (session)
        {
            blob = tpm.Create(ek.Handle, template, auth);
        }

        return Load(tpm, ek, blob);
    }

    /// <summary>Loads a previously created AK under the same EK.</summary>
    public static AttestationKey Load(Tpm2 tpm, EndorsementKey ek, TpmCreatedObject blob)
    {
        var (auth, session) = ek.Authorize();
        using (session)
        {
            var obj = tpm.Load(ek.Handle, blob, auth);
            return new AttestationKey(tpm, obj, blob);
        }
    }

    /// <summary>TPM2_Quote over <paramref name="pcrs"/> with <paramref name="qualifyingData"/> (at most 32 bytes on some TPMs).</summary>
    public TpmQuote Quote(ReadOnlySpan<byte> qualifyingData, TpmlPcrSelection pcrs) => _tpm.Quote(Handle, qualifyingData, pcrs);

    /// <summary>
    /// TPM2_ActivateCredential with this AK and <paramref name="ek"/> (a fresh EK policy session when the EK
    /// needs one). Fails with TPM_RC_INTEGRITY when the credential was made for another EK or AK name.
    /// </summary>
    public byte[] ActivateCredential(EndorsementKey ek, Tpm2bIdObject credentialBlob, Tpm2bEncryptedSecret secret)
    {
        var (auth, session) = ek.Authorize();
        using (session)
        {
            return _tpm.ActivateCredential(Handle, ek.Handle, credentialBlob, secret, TpmAuth.EmptyPassword, auth);
        }
    }

    public void Dispose() => _tpm.TryFlushContext(Handle);
}
