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

    /// <summary>
    /// <c>no-pxedhcp</c> (sub-option 176): when an offer sets it to a non-zero value, iPXE stops
    /// waiting for ProxyDHCP offers (its <c>DHCP_DISC_PROXY_TIMEOUT_SEC</c>, about 3 s) and ignores
    /// PXE-specific options. Only a server that owns the segment may send it.
    /// </summary>
    public const byte NoPxeDhcp = 176;

    /// <summary>Bus id of the booting NIC (sub-option 177).</summary>
    public const byte BusId = 177;

    /// <summary>The value of option 175 that carries only <c>no-pxedhcp = 1</c>: <c>b0 01 01</c>.</summary>
    public static byte[] NoPxeDhcpValue() => [NoPxeDhcp, 1, 1];

    public static bool TryRead(ReadOnlySpan<byte> value, out SubOptionList list) =>
        SubOptionList.TryRead(value, padAndEnd: true, out list);
}
