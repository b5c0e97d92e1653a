using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Kldload.ImageStore;

/// <summary>
/// The parts of a PE/COFF image (Microsoft PE/COFF specification, "Authenticode" and sections 2-4)
/// that the Authenticode hash needs. An EFI-stub Linux kernel is such an image; UEFI firmware
/// measures its Authenticode SHA-256 into PCR 4 before running it.
/// <code>
/// 0x00  "MZ" ... 0x3C e_lfanew (u32) ──► "PE\0\0"
///                                       COFF header (20 bytes): +2 NumberOfSections, +16 SizeOfOptionalHeader
///                                       Optional header: +0 Magic (0x10B PE32 / 0x20B PE32+),
///                                         +60 SizeOfHeaders, +64 CheckSum (skipped by the hash),
///                                         +92/+108 NumberOfRvaAndSizes, +96/+112 data directories
///                                         (8 bytes each; #4 = certificate table, skipped by the hash)
///                                       Section table (40 bytes each): +16 SizeOfRawData, +20 PointerToRawData
/// </code>
/// </summary>
public sealed record PeImageLayout
{
    private const int LfanewOffset = 0x3C;
    private const int CoffHeaderSize = 20;
    private const int NumberOfSectionsOffset = 2;
    private const int SizeOfOptionalHeaderOffset = 16;
    private const ushort MagicPe32 = 0x10B;
    private const ushort MagicPe32Plus = 0x20B;
    private const int SizeOfHeadersOffset = 60;
    private const int CheckSumOffset = 64;
    private const int CertificateDirectoryIndex = 4;
    private const int DataDirectorySize = 8;
    private const int SectionHeaderSize = 40;
    private const int SizeOfRawDataOffset = 16;
    private const int PointerToRawDataOffset = 20;

    /// <summary>File offset of the optional header's CheckSum field (4 bytes).</summary>
    public required long CheckSumFileOffset { get; init; }

    /// <summary>File offset of the certificate table's data directory entry (8 bytes), or null when the image has none.</summary>
    public required long? CertificateDirectoryFileOffset { get; init; }

    /// <summary>SizeOfHeaders: headers plus section table, hashed from offset 0.</summary>
    public required long SizeOfHeaders { get; init; }

    /// <summary>The attribute certificate table (file offset, size); size 0 when unsigned.</summary>
    public required (long Offset, long Size) CertificateTable { get; init; }

    /// <summary>Raw data of each section with data, sorted by file offset.</summary>
    public required IReadOnlyList<(long Offset, long Size)> Sections { get; init; }

    /// <summary>
    /// Parses the headers. <paramref name="headers"/> holds the start of the file (at least
    /// SizeOfHeaders bytes); <paramref name="fileSize"/> bounds every range.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> headers, long fileSize, out PeImageLayout? layout, out string? error)
    {
        layout = null;
        if (headers.Length < LfanewOffset + 4 || headers[0] != (byte)'M' || headers[1] != (byte)'Z')
        {
            error = "no MZ header";
            return false;
        }

        var pe = BinaryPrimitives.ReadUInt32LittleEndian(headers[LfanewOffset..]);
        if (pe > int.MaxValue - 1024 || pe + 4 + CoffHeaderSize > headers.Length
            || !headers.Slice((int)pe, 4).SequenceEqual("PE\0\0"u8))
        {
            error = "no PE signature at e_lfanew";
            return false;
        }

        var coff = (int)pe + 4;
        var sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(headers[(coff + NumberOfSectionsOffset)..]);
        var optionalSize = BinaryPrimitives.ReadUInt16LittleEndian(headers[(coff + SizeOfOptionalHeaderOffset)..]);
        var opt = coff + CoffHeaderSize;
        if (optionalSize < 2 || opt + optionalSize > headers.Length)
        {
            error = "optional header truncated";
            return false;
        }

        var magic = BinaryPrimitives.ReadUInt16LittleEndian(headers[opt..]);
        var (countOffset, directoriesOffset) = magic switch
        {
            MagicPe32 => (92, 96),
            MagicPe32Plus => (108, 112),
            _ => (-1, -1),
        };
        if (countOffset < 0)
        {
            error = $"unknown optional header magic 0x{magic:X}";
            return false;
        }

        if (optionalSize < directoriesOffset)
        {
            error = "optional header too short for its data directories";
            return false;
        }

        var sizeOfHeaders = BinaryPrimitives.ReadUInt32LittleEndian(headers[(opt + SizeOfHeadersOffset)..]);
        var directoryCount = BinaryPrimitives.ReadUInt32LittleEndian(headers[(opt + countOffset)..]);
        long? certificateEntry = null;
        (long, long) certificateTable = (0, 0);
        if (directoryCount > CertificateDirectoryIndex)
        {
            var entry = opt + directoriesOffset + (CertificateDirectoryIndex * DataDirectorySize);
            if (entry + DataDirectorySize > opt + optionalSize)
            {
                error = "certificate table entry outside the optional header";
                return false;
            }

            certificateEntry = entry;
            var certOffset = BinaryPrimitives.ReadUInt32LittleEndian(headers[entry..]);
            var certSize = BinaryPrimitives.ReadUInt32LittleEndian(headers[(entry + 4)..]);
            if (certSize > 0 && (certOffset < sizeOfHeaders || (long)certOffset + certSize > fileSize))
            {
                error = "certificate table outside the file";
                return false;
            }

            certificateTable = (certOffset, certSize);
        }

        var sectionTable = opt + optionalSize;
        if (sizeOfHeaders > headers.Length || sizeOfHeaders > fileSize || sectionTable + ((long)sectionCount * SectionHeaderSize) > sizeOfHeaders)
        {
            error = "section table or SizeOfHeaders outside the headers";
            return false;
        }

        var sections = new List<(long Offset, long Size)>(sectionCount);
        for (var i = 0; i < sectionCount; i++)
        {
            var s = headers.Slice(sectionTable + (i * SectionHeaderSize), SectionHeaderSize);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(s[SizeOfRawDataOffset..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(s[PointerToRawDataOffset..]);
            if (size == 0)
            {
                continue;
            }

            if (offset + size > fileSize)
            {
                error = $"section {i} raw data outside the file";
                return false;
            }

            sections.Add((offset, size));
        }

        sections.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        layout = new PeImageLayout
        {
            CheckSumFileOffset = opt + CheckSumOffset,
            CertificateDirectoryFileOffset = certificateEntry,
            SizeOfHeaders = sizeOfHeaders,
            CertificateTable = certificateTable,
            Sections = sections,
        };
        error = null;
        return true;
    }
}

/// <summary>
/// The Authenticode SHA-256 of a PE image, as UEFI firmware measures it and as signing tools embed
/// it: every byte of the file except the CheckSum field, the certificate table's directory entry
/// and the certificate table itself, with the headers first, then each section's raw data in file
/// order, then any data after the last section.
/// </summary>
public static class PeAuthenticode
{
    private const int MaxHeaderBytes = 1 << 20;

    /// <summary>
    /// Computes the hash of the image in <paramref name="stream"/> (seekable). Returns false, with
    /// the reason, when the content is not a PE image (for example a non-EFI kernel).
    /// </summary>
    public static bool TryComputeSha256(Stream stream, out Sha256Digest? digest, out string? error)
    {
        ArgumentNullException.ThrowIfNull(stream);
        digest = null;
        var fileSize = stream.Length;
        var headers = new byte[(int)Math.Min(fileSize, MaxHeaderBytes)];
        stream.Position = 0;
        stream.ReadExactly(headers);
        if (!PeImageLayout.TryRead(headers, fileSize, out var layout, out error))
        {
            return false;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var checksum = layout!.CheckSumFileOffset;
        if (layout.CertificateDirectoryFileOffset is { } certEntry)
        {
            hash.AppendData(headers, 0, (int)checksum);
            hash.AppendData(headers, (int)checksum + 4, (int)(certEntry - checksum - 4));
            hash.AppendData(headers, (int)certEntry + 8, (int)(layout.SizeOfHeaders - certEntry - 8));
        }
        else
        {
            hash.AppendData(headers, 0, (int)checksum);
            hash.AppendData(headers, (int)checksum + 4, (int)(layout.SizeOfHeaders - checksum - 4));
        }

        var hashed = layout.SizeOfHeaders;
        var buffer = new byte[1 << 16];
        foreach (var (offset, size) in layout.Sections)
        {
            HashRange(stream, hash, buffer, offset, size);
            hashed += size;
        }

        // Data after the sections (debug data, appended payloads) is hashed too, except the
        // certificate table, which by the specification comes last.
        var extra = fileSize - layout.CertificateTable.Size - hashed;
        if (extra > 0)
        {
            HashRange(stream, hash, buffer, hashed, extra);
        }

        digest = Sha256Digest.FromHash(hash.GetHashAndReset());
        return true;
    }

    /// <summary>Computes the hash of a file; see <see cref="TryComputeSha256(Stream, out Sha256Digest?, out string?)"/>.</summary>
    public static bool TryComputeSha256(string path, out Sha256Digest? digest, out string? error)
    {
        using var stream = File.OpenRead(path);
        return TryComputeSha256(stream, out digest, out error);
    }

    private static void HashRange(Stream stream, IncrementalHash hash, byte[] buffer, long offset, long size)
    {
        stream.Position = offset;
        while (size > 0)
        {
            var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, size));
            if (n == 0)
            {
                throw new EndOfStreamException("PE image shorter than its headers say");
            }

            hash.AppendData(buffer, 0, n);
            size -= n;
        }
    }
}
