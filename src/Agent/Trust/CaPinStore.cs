using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using Kldload.Tpm.Device;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Structures;

namespace Kldload.Agent.Trust;

/// <summary>A pinned mesh CA could not be read or written; the message says what an operator can do.</summary>
internal sealed class CaPinException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Where the node keeps the SHA-256 of its provisioner's mesh CA key (a seam for tests).</summary>
internal interface ICaPinStore
{
    /// <summary>A human name of the place, for console lines (<c>TPM NV 0x01804B4C</c>).</summary>
    string Location { get; }

    /// <summary>The pinned SHA-256 (32 bytes), or null before the first enrolment.</summary>
    byte[]? Read();

    /// <summary>Pins <paramref name="caKeySha256"/>, replacing any earlier pin.</summary>
    void Write(byte[] caKeySha256);
}

/// <summary>
/// The mesh CA pin in a TPM NV index the agent owns, <see cref="Index"/> = 0x01804B4C, in the owner block
/// of the TCG Registry of Reserved TPM 2.0 Handles (0x01800000-0x01BFFFFF; "KL" in the low bytes).
/// <code>
/// index 0x01804B4C, nameAlg SHA-256, 34 bytes, no authValue, no policy
/// attributes TPMA_NV_OWNERWRITE | OWNERREAD | AUTHREAD | NO_DA (0x02060002), ordinary index
/// content TPMT_HA: hashAlg u16 (0x000B, SHA-256) | digest[32] = SHA-256(DER SubjectPublicKeyInfo of the mesh root)
/// </code>
/// Writing needs owner authorization (the empty owner password of a node's TPM); anyone who can talk
/// to the TPM may read it (the pin is not a secret). It survives reboots and power loss, not TPM2_Clear.
/// An index already there with other attributes or another size is not taken for a pin: something else
/// defined it, and the agent refuses to trust it (a re-pin redefines it).
/// </summary>
internal sealed class TpmCaPinStore(Tpm2 tpm) : ICaPinStore
{
    /// <summary>The NV index of the pin.</summary>
    public const uint Index = 0x01804B4C;

    /// <summary>The attributes the agent defines the index with.</summary>
    public const TpmaNv Attributes = TpmaNv.OwnerWrite | TpmaNv.OwnerRead | TpmaNv.AuthRead | TpmaNv.NoDa;

    /// <summary>TPMT_HA of SHA-256: 2 + 32 bytes.</summary>
    public const ushort Size = 2 + SHA256.HashSizeInBytes;

    public string Location => "TPM NV 0x" + Index.ToString("X8", CultureInfo.InvariantCulture);

    public byte[]? Read()
    {
        TpmsNvPublic pub;
        try
        {
            (pub, _) = tpm.NvReadPublic(Index);
        }
        catch (TpmException e) when (e.Code.BaseCode is 0x08B or 0x18B)
        {
            return null; // TPM_RC_HANDLE: never pinned
        }

        if ((pub.Flags & ~TpmaNv.Written) != Attributes || pub.DataSize != Size || pub.AuthPolicy.Length != 0)
        {
            throw new CaPinException($"{Location} exists with attributes 0x{pub.Attributes:x8} and {pub.DataSize} bytes, not the agent's pin " +
                $"(0x{(uint)Attributes:x8}, {Size} bytes): someone else defined it; boot with kldload.repin=1 (kldload nodes replace) to redefine it");
        }

        if (!pub.Flags.HasFlag(TpmaNv.Written))
        {
            return null; // defined, then the agent stopped before the first write
        }

        byte[] data;
        try
        {
            data = tpm.NvRead(Index, TpmHandles.Owner);
        }
        catch (TpmException e)
        {
            throw new CaPinException($"cannot read the mesh CA pin from {Location} ({e.Message})", e);
        }

        return BinaryPrimitives.ReadUInt16BigEndian(data) == (ushort)TpmAlgId.Sha256
            ? data[2..]
            : throw new CaPinException($"{Location} does not hold a SHA-256 TPMT_HA; boot with kldload.repin=1 to rewrite it");
    }

    public void Write(byte[] caKeySha256)
    {
        ArgumentNullException.ThrowIfNull(caKeySha256);
        if (caKeySha256.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("a SHA-256 digest is 32 bytes", nameof(caKeySha256));
        }

        try
        {
            var existing = TryReadPublic();
            if (existing is not null && ((existing.Flags & ~TpmaNv.Written) != Attributes || existing.DataSize != Size || existing.AuthPolicy.Length != 0))
            {
                tpm.NvUndefineSpace(TpmHandles.Owner, Index);
                existing = null;
            }

            if (existing is null)
            {
                tpm.NvDefineSpace(TpmHandles.Owner, new TpmsNvPublic(Index, TpmAlgId.Sha256, (uint)Attributes, [], Size));
            }

            var content = new byte[Size];
            BinaryPrimitives.WriteUInt16BigEndian(content, (ushort)TpmAlgId.Sha256);
            caKeySha256.CopyTo(content, 2);
            tpm.NvWrite(Index, content, authHandle: TpmHandles.Owner);
        }
        catch (TpmException e)
        {
            throw new CaPinException($"cannot write the mesh CA pin to {Location} ({e.Message}); the agent needs the TPM owner " +
                "hierarchy with an empty password (tpm2_changeauth -c owner clears a set one)", e);
        }
    }

    private TpmsNvPublic? TryReadPublic()
    {
        try
        {
            return tpm.NvReadPublic(Index).Public;
        }
        catch (TpmException e) when (e.Code.BaseCode is 0x08B or 0x18B)
        {
            return null;
        }
    }
}
