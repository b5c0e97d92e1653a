using System.Globalization;

namespace Kldload.Tftp.Tests.Peer;

/// <summary>
/// Two network namespaces joined by a veth pair (server 10.77.N.1, client 10.77.N.2), with an
/// nftables rule in the client namespace that drops a share of UDP packets in both directions on
/// the client's link (this kernel has no netem). Deleted on dispose, also after a failure.
/// </summary>
internal sealed class LossyNamespaces : IAsyncDisposable
{
    private LossyNamespaces(string tag, int subnet)
    {
        Server = $"kltftps{tag}";
        Client = $"kltftpc{tag}";
        ServerAddress = $"10.77.{subnet.ToString(CultureInfo.InvariantCulture)}.1";
        ClientAddress = $"10.77.{subnet.ToString(CultureInfo.InvariantCulture)}.2";
    }

    public string Server { get; }

    public string Client { get; }

    public string ServerAddress { get; }

    public string ClientAddress { get; }

    public static async Task<LossyNamespaces> CreateAsync(int dropPercent)
    {
        var tag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
        var namespaces = new LossyNamespaces(tag, System.Security.Cryptography.RandomNumberGenerator.GetInt32(1, 255));
        try
        {
            await namespaces.SetUpAsync(tag, dropPercent);
            return namespaces;
        }
        catch
        {
            await namespaces.DisposeAsync();
            throw;
        }
    }

    private async Task SetUpAsync(string tag, int dropPercent)
    {
        var serverLink = $"kltfs{tag}";
        var clientLink = $"kltfc{tag}";
        await PeerProcess.MustRunAsync("ip", "netns", "add", Server);
        await PeerProcess.MustRunAsync("ip", "netns", "add", Client);
        await PeerProcess.MustRunAsync("ip", "-n", Server, "link", "add", serverLink, "type", "veth", "peer", "name", clientLink, "netns", Client);
        await PeerProcess.MustRunAsync("ip", "-n", Server, "addr", "add", ServerAddress + "/24", "dev", serverLink);
        await PeerProcess.MustRunAsync("ip", "-n", Client, "addr", "add", ClientAddress + "/24", "dev", clientLink);
        foreach (var (ns, link) in new[] { (Server, serverLink), (Client, clientLink) })
        {
            await PeerProcess.MustRunAsync("ip", "-n", ns, "link", "set", "lo", "up");
            await PeerProcess.MustRunAsync("ip", "-n", ns, "link", "set", link, "up");
        }

        // netdev ingress and egress hooks on the client's veth: a drop there looks like loss on the
        // wire. (A drop in the inet output hook makes sendto() fail with EPERM, which atftp treats
        // as fatal: that is not packet loss.)
        var percent = dropPercent.ToString(CultureInfo.InvariantCulture);
        var rules = $$"""
            table netdev kltftploss {
              chain ingress { type filter hook ingress device "{{clientLink}}" priority 0; ip protocol udp numgen random mod 100 < {{percent}} drop; }
              chain egress { type filter hook egress device "{{clientLink}}" priority 0; ip protocol udp numgen random mod 100 < {{percent}} drop; }
            }
            """;
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, rules);
            await PeerProcess.MustRunAsync("ip", "netns", "exec", Client, "nft", "-f", file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        await PeerProcess.RunAsync("ip", ["netns", "del", Client], TimeSpan.FromSeconds(30));
        await PeerProcess.RunAsync("ip", ["netns", "del", Server], TimeSpan.FromSeconds(30));
    }
}
