using Kldload.Contracts;
using Kldload.MeshCA;
using Kldload.MeshCA.Distribution;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Listeners;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// The node-facing attestation routes (<c>/api/v1/attest/*</c>). They are authenticated by the boot
/// token and by the attestation itself, never by the admin token. Refusals are problem+json with a
/// <c>reason</c> member naming the check that failed.
/// </summary>
public static class AttestationEndpoints
{
    public static WebApplication MapAttestationEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var attest = app.MapGroup("/api/v1/attest").WithTags("attestation").RequireRateLimiting(Boot.BootLanLimits.PerSourcePolicy);
        attest.MapPost("/challenge", (ChallengeRequest body, AttestationService service, HttpContext http) =>
            Run(() => Results.Ok(service.Challenge(body, http.Connection.RemoteIpAddress))));
        attest.MapPost("/quote", (QuoteRequest body, AttestationService service, HttpContext http) =>
            Run(() => Results.Ok(service.Quote(body, http.Connection.RemoteIpAddress))));
        attest.MapPost("/activate", (ActivateRequest body, AttestationService service, HttpContext http) => Run(() =>
        {
            var result = service.Activate(body, http.Connection.RemoteIpAddress);
            return Results.Json(result.Response, statusCode: result.Pending ? StatusCodes.Status202Accepted : StatusCodes.Status200OK);
        }));
        attest.MapPost("/ready", (ReadyRequest body, ReadyStep service, IMeshHub hub, HttpContext http) =>
            Run(() => Results.Ok(service.Ready(body, http.Connection.RemoteIpAddress, hub.IsRunning)))).ServedOnMesh();
        return app;
    }

    /// <summary>A refusal's HTTP status: 401 for a boot token problem, 409 for a state conflict, else 403.</summary>
    public static int StatusFor(string reason) => reason switch
    {
        _ when reason.StartsWith("token-", StringComparison.Ordinal) && reason != "token-closed" => StatusCodes.Status401Unauthorized,
        "not-attested" => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status403Forbidden,
    };

    private static IResult Run(Func<IResult> step)
    {
        try
        {
            return step();
        }
        catch (AttestationRefusedException e)
        {
            return Results.Problem(
                title: "attestation refused",
                detail: e.Message,
                statusCode: StatusFor(e.Reason),
                extensions: new Dictionary<string, object?> { ["reason"] = e.Reason });
        }
        catch (IllegalTransitionException e)
        {
            return Results.Problem(title: "illegal state change", detail: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }
}

/// <summary>Takes a decommissioned or replaced node off the mesh and revokes its EK for good.</summary>
public sealed class MeshLifecycleHooks(
    MeshIdentityService mesh,
    IRevokedEkStore revoked,
    IAttestationSessionStore sessions,
    Boot.BootTokens tokens,
    TimeProvider time) : INodeLifecycleHooks
{
    public void OnDecommissioned(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);

        // The mesh first: every connected node's control channel is answered with the new bundle as
        // soon as the roster changes, so the peer goes everywhere while the rest is written.
        mesh.Decommission(node.EffectiveMeshIdentity);
        sessions.CloseFor(node.Id, node.EkFingerprint, "decommissioned");
        tokens.CloseFor(node.Id);
        if (node.EkFingerprint is { } ek)
        {
            revoked.Revoke(ek, node.Id, $"node {node.Id} decommissioned", time.GetUtcNow().UtcDateTime);
        }
    }

    public void OnReplaced(NodeRecord old, NodeRecord replacement)
    {
        ArgumentNullException.ThrowIfNull(old);
        ArgumentNullException.ThrowIfNull(replacement);

        // The identity (and its address) carries on with the new hardware; the old key goes now, first
        // (connected nodes drop it as soon as the roster changes).
        mesh.Revoke(old.EffectiveMeshIdentity);
        sessions.CloseFor(old.Id, old.EkFingerprint, "replaced");
        tokens.CloseFor(old.Id);
        if (old.EkFingerprint is { } ek)
        {
            revoked.Revoke(ek, old.Id, $"node {old.Id} replaced by {replacement.Id}", time.GetUtcNow().UtcDateTime);
        }
    }

    public void OnKeyRotated(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        mesh.Revoke(node.EffectiveMeshIdentity);
    }
}
