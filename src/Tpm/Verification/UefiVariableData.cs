using System.Buffers.Binary;
using System.Text;

namespace Kldload.Tpm.Verification;

/// <summary>
/// The event data of EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_BOOT and EV_EFI_VARIABLE_AUTHORITY
/// (UEFI_VARIABLE_DATA, TCG PC Client Platform Firmware Profile 1.05, section 10.4.1). Little-endian.
/// <code>
/// VariableName       GUID (16 octets, the variable's vendor GUID)
/// UnicodeNameLength  u64  (CHAR16 units, no terminator)
/// VariableDataLength u64
/// UnicodeName        CHAR16[UnicodeNameLength]
/// VariableData       u8[VariableDataLength]
/// </code>
/// </summary>
public sealed record UefiVariableData(Guid VendorGuid, string Name, byte[] Data)
{
    private const int GuidOffset = 0;
    private const int NameLengthOffset = 16;
    private const int DataLengthOffset = 24;
    private const int NameOffset = 32;

    /// <summary>EFI_GLOBAL_VARIABLE: SecureBoot, PK, KEK (UEFI 2.x section 3.3).</summary>
    public static readonly Guid EfiGlobalVariable = new("8be4df61-93ca-11d2-aa0d-00e098032b8c");

    /// <summary>EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx (UEFI 2.x section 32.6.1).</summary>
    public static readonly Guid ImageSecurityDatabase = new("d719b2cb-3d3a-4596-a3bc-dad00e67656f");

    /// <summary>Reads one UEFI_VARIABLE_DATA; false with a reason for a truncated or inconsistent one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out UefiVariableData? variable, out string? error)
    {
        variable = null;
        if (data.Length < NameOffset)
        {
            error = $"UEFI_VARIABLE_DATA is {data.Length} octets, shorter than its 32-octet header";
            return false;
        }

        var guid = new Guid(data.Slice(GuidOffset, 16));
        var nameLength = BinaryPrimitives.ReadUInt64LittleEndian(data[NameLengthOffset..]);
        var dataLength = BinaryPrimitives.ReadUInt64LittleEndian(data[DataLengthOffset..]);
        var available = (ulong)(data.Length - NameOffset);
        if (nameLength > available / 2 || dataLength > available - (nameLength * 2))
        {
            error = $"UEFI_VARIABLE_DATA says {nameLength} name characters and {dataLength} data octets, but {available} octets follow its header";
            return false;
        }

        var name = Encoding.Unicode.GetString(data.Slice(NameOffset, (int)nameLength * 2));
        var value = data.Slice(NameOffset + ((int)nameLength * 2), (int)dataLength).ToArray();
        variable = new UefiVariableData(guid, name, value);
        error = null;
        return true;
    }
}

/// <summary>
/// EFI_SIGNATURE_LIST entries (UEFI 2.x section 32.4.1), the content of PK, KEK, db and dbx, and
/// EFI_SIGNATURE_DATA (owner GUID, then the signature: a DER certificate for EFI_CERT_X509_GUID).
/// <code>
/// SignatureType GUID | SignatureListSize u32 | SignatureHeaderSize u32 | SignatureSize u32
/// | SignatureHeader[SignatureHeaderSize] | { SignatureOwner GUID | SignatureData[SignatureSize - 16] }[]
/// </code>
/// </summary>
public static class EfiSignatureList
{
    private const int HeaderSize = 28;
    private const int OwnerSize = 16;

    /// <summary>EFI_CERT_X509_GUID: the signature is a DER-encoded X.509 certificate.</summary>
    public static readonly Guid CertX509 = new("a5c059a1-94e4-4aa7-87b5-ab155c2bf072");

    /// <summary>EFI_CERT_SHA256_GUID: the signature is a SHA-256 digest (dbx revocations, mostly).</summary>
    public static readonly Guid CertSha256 = new("c1c41626-504c-4092-aca9-41f936934328");

    /// <summary>Every (type, owner, data) in a variable made of signature lists; false for a malformed list.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out List<(Guid Type, Guid Owner, byte[] Data)> entries, out string? error)
    {
        entries = [];
        var at = 0;
        while (at < data.Length)
        {
            if (data.Length - at < HeaderSize)
            {
                error = $"signature list at {at}: {data.Length - at} octets left, shorter than the 28-octet header";
                return false;
            }

            var type = new Guid(data.Slice(at, 16));
            var listSize = BinaryPrimitives.ReadUInt32LittleEndian(data[(at + 16)..]);
            var headerSize = BinaryPrimitives.ReadUInt32LittleEndian(data[(at + 20)..]);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(data[(at + 24)..]);
            if (listSize < HeaderSize || listSize > (uint)(data.Length - at) || headerSize > listSize - HeaderSize || size <= OwnerSize
                || (listSize - HeaderSize - headerSize) % size != 0)
            {
                error = $"signature list at {at}: sizes list {listSize}, header {headerSize}, signature {size} do not fit the {data.Length - at} octets left";
                return false;
            }

            var body = data.Slice(at + HeaderSize + (int)headerSize, (int)(listSize - HeaderSize - headerSize));
            for (var s = 0; s < body.Length; s += (int)size)
            {
                var entry = body.Slice(s, (int)size);
                entries.Add((type, new Guid(entry[..OwnerSize]), entry[OwnerSize..].ToArray()));
            }

            at += (int)listSize;
        }

        error = null;
        return true;
    }
}
