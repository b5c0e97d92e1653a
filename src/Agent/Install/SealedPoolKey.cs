using System.Buffers.Binary;
using System.Security.Cryptography;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Agent.Install;

/// <summary>
/// The pool's raw 32-byte encryption key (<c>keyformat=raw</c>) sealed by this node's TPM to the
/// firmware and Secure Boot PCRs (<see cref="Pcrs"/>), with <see cref="PcrSealing"/>: only this TPM,
/// in a boot whose firmware and Secure Boot state are those of the install, releases it. The sealed
/// object is ciphertext bound to this TPM's storage seed, so it lives in plain sight on the ESP.
/// </summary>
/// <remarks>
/// File layout (<see cref="ToBytes"/>; integers big-endian like the TPM's own):
/// <code>
/// 0   8   magic "KLPKEY01"
/// 8   n   TPML_PCR_SELECTION   the PCRs the key is sealed to
/// ..  n   TPM2B_PUBLIC         the sealed-data object's public area (its authPolicy: PolicyPCR)
/// ..  n   TPM2B_PRIVATE        its private area, encrypted under the storage root key
/// </code>
/// </remarks>
internal sealed record SealedPoolKey(TpmlPcrSelection Pcrs, TpmCreatedObject Sealed)
{
    /// <summary>The key's length: AES-256-GCM.</summary>
    public const int KeyBytes = 32;

    /// <summary>Where the install writes the sealed key, under the ESP's mount point.</summary>
    public const string EspPath = "kldload/pool-key.sealed";

    /// <summary>
    /// PCR 0 (the firmware's code: SRTM, CRTM, embedded drivers) and PCR 7 (the Secure Boot state: the
    /// SecureBoot variable, PK, KEK, db, dbx, and the db entry that verified the loader). Not PCR 4:
    /// it measures each boot application, so every new kernel or boot environment would lock the pool;
    /// not PCR 1 or 5: the boot order and boot variables change when the node is set to netboot once.
    /// </summary>
    public static TpmlPcrSelection FirmwareAndSecureBoot { get; } = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 7);

    private static ReadOnlySpan<byte> Magic => "KLPKEY01"u8;

    /// <summary>A fresh key from the kernel's random source.</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeyBytes);

    /// <summary>Seals <paramref name="key"/> to the current values of <paramref name="pcrs"/> (default <see cref="FirmwareAndSecureBoot"/>).</summary>
    public static SealedPoolKey Seal(Tpm2 tpm, ReadOnlySpan<byte> key, TpmlPcrSelection? pcrs = null)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        if (key.Length != KeyBytes)
        {
            throw new ArgumentException($"a pool key is {KeyBytes} bytes, not {key.Length}", nameof(key));
        }

        var selection = pcrs ?? FirmwareAndSecureBoot;
        return new SealedPoolKey(selection, PcrSealing.Seal(tpm, key, selection));
    }

    /// <summary>
    /// The key, when this TPM holds the storage seed it was sealed under and the PCRs hold the values
    /// of sealing. Otherwise a <see cref="TpmException"/>: TPM_RC_POLICY_FAIL after a firmware or Secure
    /// Boot change; an integrity or binding error from TPM2_Load on another TPM.
    /// </summary>
    public byte[] Unseal(Tpm2 tpm)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        var key = PcrSealing.Unseal(tpm, Sealed, Pcrs);
        return key.Length == KeyBytes ? key : throw new InvalidDataException($"the sealed pool key is {key.Length} bytes, not {KeyBytes}");
    }

    /// <summary>The file's bytes (layout above).</summary>
    public byte[] ToBytes()
    {
        var pcrs = TpmMarshal.ToBytes(Pcrs);
        var pub = TpmMarshal.ToBytes(new Tpm2bPublic(Sealed.Public));
        var bytes = new byte[Magic.Length + pcrs.Length + pub.Length + 2 + Sealed.Private.Length];
        Magic.CopyTo(bytes);
        pcrs.CopyTo(bytes, Magic.Length);
        pub.CopyTo(bytes, Magic.Length + pcrs.Length);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(Magic.Length + pcrs.Length + pub.Length), checked((ushort)Sealed.Private.Length));
        Sealed.Private.CopyTo(bytes, bytes.Length - Sealed.Private.Length);
        return bytes;
    }

    /// <summary>Reads a sealed key file; <see cref="TpmFormatException"/> when it is not one (wrong magic, truncated, trailing bytes).</summary>
    public static SealedPoolKey Parse(ReadOnlySpan<byte> bytes)
    {
        if (!bytes.StartsWith(Magic))
        {
            throw new TpmFormatException("sealed pool key", "no KLPKEY01 magic at offset 0");
        }

        var reader = new TpmReader(bytes[Magic.Length..]);
        if (TpmlPcrSelection.TryRead(ref reader, out var pcrs) && Tpm2bPublic.TryRead(ref reader, out var pub))
        {
            var priv = reader.ReadSizedArray("TPM2B_PRIVATE");
            reader.ExpectEnd("sealed pool key");
            if (!reader.Failed)
            {
                return new SealedPoolKey(pcrs, new TpmCreatedObject(priv, pub.Public));
            }
        }

        throw new TpmFormatException("sealed pool key", reader.Error ?? "unreadable");
    }
}
