namespace Kldload.Bmc;

/// <summary>
/// The system UUID a BMC reports. IPMI's Get System GUID returns 16 bytes whose order BMCs do not
/// agree on: the IPMI specification (section 20.8) stores the whole GUID least-significant byte first,
/// while many BMCs return it in SMBIOS order (the first three fields little-endian, as SMBIOS 3.x
/// section 7.2.1 stores the system UUID). Both readings are kept, and a pairing check accepts either.
/// Redfish reports one canonical string, so it has one reading.
/// </summary>
public sealed record BmcSystemUuid(Guid Reported, Guid? Alternate)
{
    /// <summary>Both readings of the 16 bytes of an IPMI Get System GUID response.</summary>
    public static BmcSystemUuid FromIpmi(ReadOnlySpan<byte> guid)
    {
        if (guid.Length != 16)
        {
            throw new ArgumentException("an IPMI GUID is 16 bytes", nameof(guid));
        }

        // IPMI order: byte 0 is the least significant byte of the 128-bit value, so the canonical
        // big-endian text is the bytes reversed.
        Span<byte> reversed = stackalloc byte[16];
        guid.CopyTo(reversed);
        reversed.Reverse();
        var ipmiOrder = new Guid(reversed, bigEndian: true);
        // SMBIOS order is exactly .NET's little-endian Guid layout.
        var smbiosOrder = new Guid(guid, bigEndian: false);
        return new BmcSystemUuid(ipmiOrder, smbiosOrder);
    }

    /// <summary>True when either reading is the given SMBIOS system UUID.</summary>
    public bool Matches(Guid smbiosUuid) => Reported == smbiosUuid || Alternate == smbiosUuid;

    public override string ToString() => Alternate is { } other && other != Reported
        ? $"{Reported} (or {other} in SMBIOS byte order)"
        : Reported.ToString();
}
