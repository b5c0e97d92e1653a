using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The URL nodes use to reach kldload: <c>Kldload:ServerUrl</c> when set, otherwise the first listen
/// URL with a wildcard host replaced by this host's first non-loopback IPv4 address (and port 0
/// replaced by the bound port).
/// </summary>
public sealed class ServerUrl(KldloadConfiguration config, IServer server)
{
    public IReadOnlyList<string> ListenUrls =>
        server.Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? config.Urls.Select(u => u.OriginalString).ToList();

    public Uri Value
    {
        get
        {
            if (config.Kldload.ServerUrl is { } configured)
            {
                return configured;
            }

            var first = ListenUrls.Count > 0 ? ListenUrls[0] : "http://0.0.0.0:8080";
            var uri = new Uri(first.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal));
            var host = uri.Host;
            if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            {
                host = FirstHostAddress()?.ToString() ?? "127.0.0.1";
            }

            return new UriBuilder(uri.Scheme, host, uri.Port).Uri;
        }
    }

    /// <summary>
    /// The first HTTP listen URL as a client on this host reaches it (a wildcard host becomes
    /// loopback), for CLI commands on the same data directory; null when nothing listens on HTTP.
    /// </summary>
    public Uri? Local
    {
        get
        {
            var first = ListenUrls.FirstOrDefault(u => u.StartsWith("http", StringComparison.OrdinalIgnoreCase));
            if (first is null)
            {
                return null;
            }

            var uri = new Uri(first.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal));
            var host = uri.Host;
            if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
            {
                host = address.Equals(IPAddress.Any) ? "127.0.0.1" : address.Equals(IPAddress.IPv6Any) ? "[::1]" : host;
            }

            return new UriBuilder(uri.Scheme, host, uri.Port).Uri;
        }
    }

    private static IPAddress? FirstHostAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
