using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Kldload.Testing.Web;

/// <summary>Where an in-process web service a test started on port 0 (Kestrel picks the port) listens.</summary>
public static class ListenAddress
{
    /// <summary>The first address Kestrel bound, for example <c>http://127.0.0.1:40123</c> (no trailing slash).</summary>
    public static string Of(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
}
