using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>
/// A keyedHash HMAC-SHA256 primary key recreated from a fixed, versioned template
/// (<see cref="TpmTemplates.HmacPrimary"/>) in the owner hierarchy: the same TPM always gives the same
/// HMAC for the same message, a TPM2_Clear (new owner seed) or another TPM gives different ones. The
/// WireGuard private key derivation (README, "Node key"; docs/boot.md, step 9) starts from <see cref="Hmac"/>. The key never
/// leaves the TPM; it is flushed on dispose.
/// </summary>
public sealed class TpmHmacKey : IDisposable
{
    private readonly Tpm2 _tpm;

    private TpmHmacKey(Tpm2 tpm, TpmObject obj)
    {
        _tpm = tpm;
        Handle = obj.Handle;
        Name = obj.Name;
    }

    public uint Handle { get; }

    public byte[] Name { get; }

    /// <summary>Creates the primary under <paramref name="hierarchy"/> (owner by default) from the template labelled <paramref name="label"/>.</summary>
    public static TpmHmacKey Open(Tpm2 tpm, uint hierarchy = TpmHandles.Owner, string label = TpmTemplates.HmacPrimaryLabelV1, TpmAuth? hierarchyAuth = null) =>
        new(tpm, tpm.CreatePrimary(hierarchy, TpmTemplates.HmacPrimary(label), hierarchyAuth));

    /// <summary>HMAC-SHA256 of <paramref name="message"/> (at most 1024 bytes) under the TPM-resident key.</summary>
    public byte[] Hmac(ReadOnlySpan<byte> message) => _tpm.Hmac(Handle, message, TpmAlgId.Sha256);

    public void Dispose() => _tpm.TryFlushContext(Handle);
}
