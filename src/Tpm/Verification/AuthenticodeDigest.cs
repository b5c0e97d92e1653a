using System.Buffers.Binary;
using System.Security.Cryptography;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// The Authenticode digest of a PE/COFF image (Microsoft "Windows Authenticode Portable Executable Signature
/// Format", "Calculating the PE Image Hash"): what UEFI firmware measures into PCR 4 for an
/// EV_EFI_BOOT_SERVICES_APPLICATION such as a kernel with an EFI stub.
/// <code>
/// hashed: headers without CheckSum (4 B) and the Certificate Table directory entry (8 B), up to SizeOfHeaders
///         | each section's raw data in PointerToRawData order | any trailing data except the certificate table
/// </code>
/// </summary>
public static class AuthenticodeDigest
{
    private const int PeOffsetField = 0x3C;
    private const int CoffHeaderSize = 20;
    private const int SectionHeaderSize = 40;

    public static byte[] Compute(ReadOnlySpan<byte> image, TpmAlgId hash = TpmAlgId.Sha256)
    {
        if (image.Length < 0x40 || image[0] != (byte)'M' || image[1] != (byte)'Z')
        {
            throw Malformed("no MZ header");
        }

        var pe = (int)BinaryPrimitives.ReadUInt32LittleEndian(image[PeOffsetField..]);
        if (pe < 0 || pe > image.Length - 4 - CoffHeaderSize || !image.Slice(pe, 4).SequenceEqual("PE\0\0"u8))
        {
            throw Malformed("no PE signature");
        }

        var coff = pe + 4;
        var sections = BinaryPrimitives.ReadUInt16LittleEndian(image[(coff + 2)..]);
        var optionalSize = BinaryPrimitives.ReadUInt16LittleEndian(image[(coff + 16)..]);
        var optional = coff + CoffHeaderSize;
        if (optional + optionalSize > image.Length || optionalSize < 2)
        {
            throw Malformed("truncated optional header");
        }

        var magic = BinaryPrimitives.ReadUInt16LittleEndian(image[optional..]);
        var directories = magic switch
        {
            0x10B => optional + 96,  // PE32
            0x20B => optional + 112, // PE32+
            _ => throw Malformed($"optional header magic 0x{magic:x}"),
        };
        if (directories - optional > optionalSize)
        {
            throw Malformed("optional header too short for its data directories");
        }

        var checksum = optional + 64;
        var numberOfRvaAndSizes = BinaryPrimitives.ReadUInt32LittleEndian(image[(directories - 4)..]);
        var certEntry = directories + (4 * 8); // data directory 4: Certificate Table
        var hasCertEntry = numberOfRvaAndSizes > 4 && certEntry + 8 <= optional + optionalSize;
        var sizeOfHeaders = (int)BinaryPrimitives.ReadUInt32LittleEndian(image[(optional + 60)..]);
        if (sizeOfHeaders > image.Length || sizeOfHeaders < optional + optionalSize)
        {
            throw Malformed("bad SizeOfHeaders");
        }

        using var h = IncrementalHash.CreateHash(TpmHash.Name(hash));
        h.AppendData(image[..checksum]);
        if (hasCertEntry)
        {
            h.AppendData(image[(checksum + 4)..certEntry]);
            h.AppendData(image[(certEntry + 8)..sizeOfHeaders]);
        }
        else
        {
            h.AppendData(image[(checksum + 4)..sizeOfHeaders]);
        }

        var table = optional + optionalSize;
        if (table + (sections * SectionHeaderSize) > image.Length)
        {
            throw Malformed("truncated section table");
        }

        var raw = new List<(int Offset, int Size)>();
        for (var i = 0; i < sections; i++)
        {
            var s = table + (i * SectionHeaderSize);
            var size = (int)BinaryPrimitives.ReadUInt32LittleEndian(image[(s + 16)..]);
            var offset = (int)BinaryPrimitives.ReadUInt32LittleEndian(image[(s + 20)..]);
            if (size == 0)
            {
                continue;
            }

            if (offset < 0 || size < 0 || (long)offset + size > image.Length)
            {
                throw Malformed($"section {i} lies outside the image");
            }

            raw.Add((offset, size));
        }

        var hashed = sizeOfHeaders;
        foreach (var (offset, size) in raw.OrderBy(r => r.Offset))
        {
            h.AppendData(image.Slice(offset, size));
            hashed = Math.Max(hashed, offset + size);
        }

        var certSize = hasCertEntry ? (int)BinaryPrimitives.ReadUInt32LittleEndian(image[(certEntry + 4)..]) : 0;
        var end = image.Length - certSize;
        if (end > hashed)
        {
            h.AppendData(image[hashed..end]);
        }

        return h.GetHashAndReset();
    }

    private static AttestationException Malformed(string message) => new(AttestationFailure.Malformed, "PE image: " + message);
}
