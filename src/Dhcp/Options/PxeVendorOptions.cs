using System.Buffers.Binary;
using System.Text;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Options;

/// <summary>
/// Option 43 as a PXE client reads it (PXE specification 2.1, section 2.4, table 2-1): the sub-options
/// a proxyDHCP server needs to tell a client "boot from the file in this reply, skip the menu".
/// <code>
/// sub-option 6  PXE_DISCOVERY_CONTROL  1 byte bit field (bit 3: use the boot file name directly)
/// sub-option 8  PXE_BOOT_SERVERS       type(2) count(1) address(4 x count) ...
/// sub-option 9  PXE_BOOT_MENU          type(2) len(1) description(len) ...
/// sub-option 10 PXE_MENU_PROMPT        timeout(1) prompt(text)
/// </code>
/// </summary>
public static class PxeVendorOptions
{
    public const byte DiscoveryControl = 6;
    public const byte BootServers = 8;
    public const byte BootMenu = 9;
    public const byte MenuPrompt = 10;

    /// <summary>Discovery control bits (PXE 2.1 table 2-1): 1 no broadcast, 2 no multicast, 4 only listed servers, 8 boot file in this packet.</summary>
    [Flags]
    public enum DiscoveryControlBits : byte
    {
        None = 0,
        DisableBroadcast = 1,
        DisableMulticast = 2,
        OnlyListedServers = 4,
        UseBootFileName = 8,
    }

    /// <summary>
    /// The option 43 value that makes a PXE ROM boot the file named in the reply without boot-server
    /// discovery: discovery control 8, one menu item (type 0, "kldload"), prompt with timeout 0.
    /// </summary>
    public static byte[] BootFromReply(string description = "kldload")
    {
        var text = Encoding.ASCII.GetBytes(description);
        var list = new SubOptionList();
        list.Add(DiscoveryControl, [(byte)DiscoveryControlBits.UseBootFileName]);
        var menu = new byte[3 + text.Length];
        BinaryPrimitives.WriteUInt16BigEndian(menu, 0);
        menu[2] = (byte)text.Length;
        text.CopyTo(menu, 3);
        list.Add(BootMenu, menu);
        var prompt = new byte[1 + text.Length];
        text.CopyTo(prompt, 1);
        list.Add(MenuPrompt, prompt);
        return list.ToArray(withEnd: true);
    }

    /// <summary>Sub-option 8: one boot server type with its addresses.</summary>
    public static byte[] EncodeBootServers(ushort type, IReadOnlyList<Ipv4Address> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var b = new byte[3 + (4 * addresses.Count)];
        BinaryPrimitives.WriteUInt16BigEndian(b, type);
        b[2] = (byte)addresses.Count;
        for (var i = 0; i < addresses.Count; i++)
        {
            addresses[i].Write(b.AsSpan(3 + (i * 4)));
        }

        return b;
    }

    /// <summary>Reads discovery control from an option 43 value; null when absent or unparsable.</summary>
    public static DiscoveryControlBits? ReadDiscoveryControl(byte[] option43) =>
        SubOptionList.TryRead(option43, padAndEnd: true, out var list) && list.Get(DiscoveryControl) is [var bits]
            ? (DiscoveryControlBits)bits
            : null;
}
