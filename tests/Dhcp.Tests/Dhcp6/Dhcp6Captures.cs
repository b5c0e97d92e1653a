namespace Kldload.Dhcp.Tests.Dhcp6;

/// <summary>DHCPv6 payloads captured once from kea-dhcp6, perfdhcp -6 and dhclient -6 (see TestData/README.md).</summary>
internal static class Dhcp6Captures
{
    public static readonly string[] Names =
    [
        "perfdhcp-solicit", "kea-advertise-perfdhcp", "dhclient-solicit", "kea-advertise-dhclient", "dhclient-request", "kea-reply-dhclient",
    ];

    public static byte[] Load(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "dhcp6", name + ".bin"));

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
