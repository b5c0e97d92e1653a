using System.Net;
using System.Text.Json;
using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Mesh;

/// <summary>
/// The resident agents' control channel (<c>/api/v1/mesh/*</c>), served on the hub's mesh address
/// only (<see cref="MeshHttpListener.ServedOnMesh{TBuilder}"/>): no port on the LAN. A caller is the
/// mesh member whose address it comes from. That is authentication, not a claim: the hub's WireGuard
/// accepts a packet from a member's address only when it is sealed with that member's key (cryptokey
/// routing), and the answer to a spoofed source goes back through the tunnel, so a TCP connection from
/// that address cannot be opened by anyone else. Nothing in the request names the node.
/// </summary>
public static partial class ControlChannelEndpoints
{
    /// <summary>The default and the bounds of a watch's wait.</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(25);

    public static WebApplication MapControlChannelEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var mesh = app.MapGroup("/api/v1/mesh").WithTags("mesh");
        mesh.MapPost("/watch", WatchAsync).ServedOnMesh();
        mesh.MapPost("/certificate", Renew).ServedOnMesh();
        return app;
    }

    /// <summary>
    /// A long poll: answered at once with the node's signed bundle when the mesh epoch differs from the
    /// one the node applied, else held until the epoch changes (every waiting node is answered as soon
    /// as a change is stored), the node's wait ends, or kldload stops (then without a bundle).
    /// </summary>
    internal static async Task<IResult> WatchAsync(
        WatchRequest body,
        HttpContext http,
        MeshIdentityService mesh,
        IMeshHub hub,
        ControlChannelRegistry registry,
        MeshSettings settings,
        IHostApplicationLifetime lifetime,
        ILogger<ControlChannelRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(lifetime);
        if (Identify(http, mesh, hub) is not { } member)
        {
            return Refusal(http, mesh, hub, logger);
        }

        var wait = TimeSpan.FromSeconds(Math.Clamp(body.WaitSeconds ?? (int)DefaultWait.TotalSeconds, 1, 120));
        using (registry.Report(member.NodeId, body, wait))
        {
            if (mesh.Roster.Epoch == body.AppliedEpoch)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
                cts.CancelAfter(wait);
                try
                {
                    await mesh.Roster.WaitForChangeAsync(body.AppliedEpoch, cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The wait ended with nothing new: answered below without a bundle.
                }
            }
        }

        if (mesh.Roster.Epoch == body.AppliedEpoch)
        {
            return Results.Ok(new WatchResponse(body.AppliedEpoch, null, settings.LockPublicNic, settings.MetricsPort));
        }

        if (mesh.SignedBundleFor(member.NodeId) is not { } signed)
        {
            Log.Revoked(logger, member.NodeId);
            return Results.Problem(title: "revoked", detail: $"node {member.NodeId} is no longer a mesh member", statusCode: StatusCodes.Status410Gone,
                extensions: new Dictionary<string, object?> { ["reason"] = "revoked" });
        }

        using var envelope = JsonDocument.Parse(signed.ToJson());
        var epoch = PeerBundleCodec.TryRead(signed.Payload, out var bundle, out _) ? bundle!.Epoch : mesh.Roster.Epoch;
        Log.BundleSent(logger, member.NodeId, body.AppliedEpoch, epoch);
        return Results.Ok(new WatchResponse(epoch, envelope.RootElement.Clone(), settings.LockPublicNic, settings.MetricsPort));
    }

    /// <summary>A fresh certificate for the calling member (same key and addresses, the full lifetime from now).</summary>
    internal static IResult Renew(HttpContext http, MeshIdentityService mesh, IMeshHub hub, ControlChannelRegistry registry, ILogger<ControlChannelRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(registry);
        if (Identify(http, mesh, hub) is not { } member)
        {
            return Refusal(http, mesh, hub, logger);
        }

        using var certificate = mesh.RenewCertificate(member.NodeId);
        if (certificate is null)
        {
            return Results.Problem(title: "revoked", detail: $"node {member.NodeId} is no longer a mesh member", statusCode: StatusCodes.Status410Gone,
                extensions: new Dictionary<string, object?> { ["reason"] = "revoked" });
        }

        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        registry.Seen(member.NodeId, notAfter);
        Log.Renewed(logger, member.NodeId, notAfter);
        return Results.Ok(new CertificateRenewal(certificate.ExportCertificatePem() + "\n", notAfter));
    }

    /// <summary>The mesh member the request comes from, when the hub runs; else null.</summary>
    public static MeshMember? Identify(HttpContext http, MeshIdentityService mesh, IMeshHub hub)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(hub);
        return hub.IsRunning && http.Connection.RemoteIpAddress is { } remote ? mesh.Roster.FindByAddress(remote) : null;
    }

    private static IResult Refusal(HttpContext http, MeshIdentityService mesh, IMeshHub hub, ILogger logger)
    {
        var remote = http.Connection.RemoteIpAddress;
        var shown = remote?.IsIPv4MappedToIPv6 == true ? remote.MapToIPv4() : remote ?? IPAddress.None;
        Log.Refused(logger, shown.ToString(), hub.IsRunning);
        return hub.IsRunning
            ? Results.Problem(title: "not a mesh member", detail: $"{shown} is not the mesh address of a member (prefix {mesh.Addresses.Prefix6})", statusCode: StatusCodes.Status403Forbidden,
                extensions: new Dictionary<string, object?> { ["reason"] = "not-a-member" })
            : Results.Problem(title: "mesh down", detail: "the hub is not running (Mesh:Enabled=false): there is no control channel", statusCode: StatusCodes.Status503ServiceUnavailable,
                extensions: new Dictionary<string, object?> { ["reason"] = "mesh-down" });
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ControlBundleSent, Level = LogLevel.Information, Message = "control channel: node {Node} had epoch {Applied}, sent its bundle at epoch {Epoch}")]
        public static partial void BundleSent(ILogger logger, string node, ulong applied, ulong epoch);

        [LoggerMessage(EventId = LogEvents.ControlRefused, Level = LogLevel.Warning, Message = "control channel: refused {Remote} (hub running: {HubRunning}): not a mesh member's address")]
        public static partial void Refused(ILogger logger, string remote, bool hubRunning);

        [LoggerMessage(EventId = LogEvents.ControlRevoked, Level = LogLevel.Information, Message = "control channel: node {Node} was revoked while it watched; told so")]
        public static partial void Revoked(ILogger logger, string node);

        [LoggerMessage(EventId = LogEvents.ControlCertificateRenewed, Level = LogLevel.Information, Message = "control channel: node {Node} renewed its certificate, valid until {NotAfter:o}")]
        public static partial void Renewed(ILogger logger, string node, DateTimeOffset notAfter);
    }
}
