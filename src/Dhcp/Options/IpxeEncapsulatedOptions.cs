namespace Kldload.Dhcp.Options;

/// <summary>
/// Option 175, iPXE's encapsulated options (iPXE documentation "DHCP options"). Only iPXE sends it,
/// so its presence alone says "this client is already iPXE": the server must answer with the script
/// URL instead of the iPXE binary, or iPXE would chainload itself forever.
/// <code>
/// +-----+-----+------+-----+-------+---
/// | 175 | len | code | len | value | ...   (e.g. 19 = http feature, 16 = bzImage, 177 = bus id)
/// +-----+-----+------+-----+-------+---
/// </code>
/// </summary>
public static class IpxeEncapsulatedOptions
{
    /// <summary>Feature flag: iPXE built with HTTP (sub-option 19).</summary>
    public const byte Http = 19;

    /// <summary>Feature flag: iPXE built with HTTPS (sub-option 20).</summary>
    public const byte Https = 20;

    /// <summary>Bus id of the booting NIC (sub-option 177).</summary>
    public const byte BusId = 177;

    public static bool TryRead(ReadOnlySpan<byte> value, out SubOptionList list) =>
        SubOptionList.TryRead(value, padAndEnd: true, out list);
}
