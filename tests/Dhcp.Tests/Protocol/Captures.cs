namespace Kldload.Dhcp.Tests.Protocol;

/// <summary>
/// DHCP payloads captured once with tcpdump on a veth in a private namespace (see TestData/README.md):
/// dhclient 4.4, busybox udhcpc sending PXE options, and QEMU's iPXE e1000 ROM.
/// </summary>
internal static class Captures
{
    public static readonly string[] Names = ["dhclient-discover", "udhcpc-pxe-discover", "ipxe-rom-discover"];

    public static byte[] Load(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", name + ".bin"));

    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (var n in Names)
        {
            data.Add(n);
        }

        return data;
    }
}
