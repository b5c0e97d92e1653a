using Kldload.Dhcp.Options;
using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>
/// Owns the boot part of a reply: it asks the <see cref="IDhcpBootPolicy"/> what a client boots and
/// writes the answer as the file field and options 60, 66, 67, 43 (PXE 2.1 table 2-1), 97 and iPXE's
/// 175. Header, lease and network options are <see cref="DhcpReplyBuilder"/>'s; whether to answer at
/// all is <see cref="DhcpEngine"/>'s.
/// </summary>
internal sealed class DhcpBootOptionBuilder(Ipv4Address serverAddress, IDhcpBootPolicy bootPolicy)
{
    /// <summary>What <paramref name="client"/> boots, or null when the policy does not serve it.</summary>
    public BootAnswer? Decide(BootClient client) => bootPolicy.Decide(client);

    /// <summary>
    /// Full mode: boot options for boot clients and for any client that asks for a boot file name
    /// (option 55 lists 67); and iPXE's "no ProxyDHCP offer will come".
    /// </summary>
    public void AddFullMode(DhcpMessage reply, DhcpMessage request, BootClient client)
    {
        if ((client.IsBootClient || client.RequestsBootFile) && bootPolicy.Decide(client) is { } answer)
        {
            Add(reply, request, client, answer, proxy: false);
        }

        // This server owns the segment, so no ProxyDHCP offer will come: tell iPXE not to wait for one
        // (option 175 sub-option 176, read from the OFFER; about 3 s per boot). Never in proxy mode,
        // where the ProxyDHCP offer is the point.
        if (client.IsIpxe)
        {
            reply.Options.Set(DhcpOptionCode.IpxeEncapsulated, IpxeEncapsulatedOptions.NoPxeDhcpValue());
        }
    }

    /// <summary>Proxy mode (PXE 2.1 section 2.2.4): the boot answer is the whole point of the reply.</summary>
    public void AddProxy(DhcpMessage reply, DhcpMessage request, BootClient client, BootAnswer answer) =>
        Add(reply, request, client, answer, proxy: true);

    private void Add(DhcpMessage reply, DhcpMessage request, BootClient client, BootAnswer answer, bool proxy)
    {
        reply.BootFile = answer.BootFile.Length < DhcpMessage.FileLength ? answer.BootFile : string.Empty;
        // A proxyDHCP reply is recognised by option 60 "PXEClient" (PXE 2.1 section 2.2.5): without it
        // an iPXE ROM (which also says PXEClient) discards the address-less offer and never asks for its boot file.
        if ((answer.VendorClass ?? (proxy ? "PXEClient" : null)) is { } vendor)
        {
            reply.Options.SetString(DhcpOptionCode.VendorClassIdentifier, vendor);
        }

        var asked = request.Options.ParameterRequestList;
        if (asked.Contains(DhcpOptionCode.BootFileName) || reply.BootFile.Length == 0)
        {
            reply.Options.SetString(DhcpOptionCode.BootFileName, answer.BootFile);
        }

        if (asked.Contains(DhcpOptionCode.TftpServerName))
        {
            reply.Options.SetString(DhcpOptionCode.TftpServerName, serverAddress.ToString());
        }

        // A PXE ROM takes the file from this reply only if option 43 says so (PXE 2.1 table 2-1);
        // iPXE and UEFI HTTP clients do not need it.
        if (client.IsPxeClient && !client.IsIpxe && (proxy || asked.Contains(DhcpOptionCode.VendorSpecific)))
        {
            reply.Options.Set(DhcpOptionCode.VendorSpecific, PxeVendorOptions.BootFromReply());
        }

        if (proxy && request.Options.Get(DhcpOptionCode.ClientMachineId) is { } uuid)
        {
            reply.Options.Set(DhcpOptionCode.ClientMachineId, uuid);
        }
    }
}
