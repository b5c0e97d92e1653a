using Kldload.Tpm.Marshalling;

namespace Kldload.Tpm.Structures;

/// <summary>
/// TPMS_ECC_POINT (TPM 2.0 Part 2, table 171): <c>x TPM2B | y TPM2B</c>. For an ECC EK, the
/// credential secret (TPM2B_ENCRYPTED_SECRET content) is the ephemeral public point in this form.
/// </summary>
public sealed record TpmsEccPoint(byte[] X, byte[] Y) : ITpmStructure<TpmsEccPoint>
{
    public static bool TryRead(ref TpmReader reader, out TpmsEccPoint value)
    {
        value = new TpmsEccPoint(reader.ReadSizedArray("TPMS_ECC_POINT.x", 128), reader.ReadSizedArray("TPMS_ECC_POINT.y", 128));
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteSized(X);
        writer.WriteSized(Y);
    }
}

/// <summary>
/// TPM2B_ID_OBJECT (TPM 2.0 Part 2, table 222; Part 1, clause 24): the credential blob.
/// <code>
/// size u16 | integrityHMAC TPM2B_DIGEST | encIdentity (rest: AES-CFB of the marshalled TPM2B credential; no own size)
/// </code>
/// </summary>
public sealed record Tpm2bIdObject(byte[] IntegrityHmac, byte[] EncIdentity) : ITpmStructure<Tpm2bIdObject>
{
    public static bool TryRead(ref TpmReader reader, out Tpm2bIdObject value)
    {
        value = null!;
        var content = reader.ReadSized("TPM2B_ID_OBJECT");
        if (reader.Failed)
        {
            return false;
        }

        var inner = new TpmReader(content);
        var hmac = inner.ReadSizedArray("TPMS_ID_OBJECT.integrityHMAC", 64);
        var enc = inner.ReadRemaining().ToArray();
        if (!inner.Failed && enc.Length < 2)
        {
            inner.Fail("TPMS_ID_OBJECT.encIdentity shorter than its size field");
        }

        if (inner.Failed)
        {
            reader.Fail("TPM2B_ID_OBJECT: " + inner.Error);
            return false;
        }

        value = new Tpm2bIdObject(hmac, enc);
        return true;
    }

    public void Write(ref TpmWriter writer)
    {
        var at = writer.BeginSize16();
        writer.WriteSized(IntegrityHmac);
        writer.WriteBytes(EncIdentity);
        writer.EndSize16(at);
    }
}

/// <summary>
/// TPM2B_ENCRYPTED_SECRET (TPM 2.0 Part 2, table 194): <c>size u16 | secret</c>: an RSA-OAEP
/// ciphertext for RSA keys, a marshalled <see cref="TpmsEccPoint"/> for ECC keys.
/// </summary>
public sealed record Tpm2bEncryptedSecret(byte[] Secret) : ITpmStructure<Tpm2bEncryptedSecret>
{
    public static bool TryRead(ref TpmReader reader, out Tpm2bEncryptedSecret value)
    {
        value = new Tpm2bEncryptedSecret(reader.ReadSizedArray("TPM2B_ENCRYPTED_SECRET", 1024));
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer) => writer.WriteSized(Secret);
}

/// <summary>
/// TPMS_NV_PUBLIC (TPM 2.0 Part 2, table 216), read from TPM2B_NV_PUBLIC.
/// <code>
/// nvIndex u32 | nameAlg u16 | attributes u32 (TPMA_NV) | authPolicy TPM2B | dataSize u16
/// </code>
/// </summary>
public sealed record TpmsNvPublic(uint NvIndex, TpmAlgId NameAlg, uint Attributes, byte[] AuthPolicy, ushort DataSize) : ITpmStructure<TpmsNvPublic>
{
    /// <summary><see cref="Attributes"/> as TPMA_NV flags.</summary>
    public TpmaNv Flags => (TpmaNv)Attributes;

    public static bool TryRead(ref TpmReader reader, out TpmsNvPublic value)
    {
        value = new TpmsNvPublic(
            reader.ReadUInt32("TPMS_NV_PUBLIC.nvIndex"),
            (TpmAlgId)reader.ReadUInt16("TPMS_NV_PUBLIC.nameAlg"),
            reader.ReadUInt32("TPMS_NV_PUBLIC.attributes"),
            reader.ReadSizedArray("TPMS_NV_PUBLIC.authPolicy", 64),
            reader.ReadUInt16("TPMS_NV_PUBLIC.dataSize"));
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt32(NvIndex);
        writer.WriteUInt16((ushort)NameAlg);
        writer.WriteUInt32(Attributes);
        writer.WriteSized(AuthPolicy);
        writer.WriteUInt16(DataSize);
    }
}
