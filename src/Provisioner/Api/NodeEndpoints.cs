using System.Text.Json;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Api;

/// <summary>The admin API for nodes, their history and profiles (<c>/api/v1</c>, bearer token).</summary>
public static class NodeEndpoints
{
    public static RouteGroupBuilder MapNodeEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/nodes", (NodeService nodes, Mesh.ControlChannelRegistry channels) =>
            nodes.Store.List().Select(n => NodeView.From(n) with { LastHandshake = channels.LastHandshakeOf(n.Id) }).ToList());
        api.MapGet("/nodes/{id}", (string id, NodeService nodes, Mesh.ControlChannelRegistry channels) =>
            nodes.Find(id) is { } n ? Results.Ok(NodeView.From(n) with { ControlChannel = channels.StatusOf(n.Id), LastHandshake = channels.LastHandshakeOf(n.Id) }) : NotFound(id));
        api.MapGet("/nodes/{id}/events", (string id, NodeService nodes) =>
            nodes.Find(id) is { } n ? Results.Ok(nodes.Store.Events(n.Id).Select(NodeEventView.From).ToList()) : NotFound(id));
        api.MapGet("/nodes/{id}/hardware", (string id, NodeService nodes, HardwareInventory hardware) =>
            nodes.Find(id) is { } n ? Results.Ok(HardwareView.From(n, hardware.History(n.Id))) : NotFound(id));
        api.MapPatch("/nodes/{id}", Patch);
        api.MapPost("/nodes/{id}/approve", Approve);
        api.MapPost("/nodes/{id}/reimage", Reimage);
        api.MapPost("/nodes/{id}/decommission", Decommission);
        api.MapPost("/nodes/{id}/replace", Replace);
        api.MapPost("/nodes/{id}/rotate-key", RotateKey);
        api.MapPost("/nodes/{id}/repin", Repin);

        api.MapGet("/events", (NodeService nodes, long? after, int? limit) =>
            nodes.Store.EventsAfter(after ?? 0, Math.Clamp(limit ?? 200, 1, 5000)).Select(NodeEventView.From).ToList());
        api.MapGet("/events/stream", Stream);

        api.MapGet("/profiles", (IProfileStore profiles) => profiles.List());
        api.MapGet("/profiles/{name}", (string name, IProfileStore profiles) =>
            profiles.Get(name) is { } p ? Results.Ok(p) : Problem(StatusCodes.Status404NotFound, "not found", $"no profile {name}"));
        api.MapPut("/profiles/{name}", PutProfile);
        api.MapDelete("/profiles/{name}", (string name, IProfileStore profiles) =>
            profiles.Delete(name) ? Results.NoContent() : Problem(StatusCodes.Status404NotFound, "not found", $"no profile {name}"));
        return api;
    }

    /// <summary>Who made the change: the name of the caller's token (issue 23).</summary>
    internal static string Actor(HttpContext http) => AdminRoutes.Caller(http).Name;

    internal static IResult Problem(int status, string title, string detail) => Results.Problem(title: title, detail: detail, statusCode: status);

    private static IResult NotFound(string id) => Problem(StatusCodes.Status404NotFound, "not found", $"no node with id, name, MAC or UUID '{id}'");

    private static IResult Conflict(IllegalTransitionException e) => Problem(StatusCodes.Status409Conflict, "illegal state change", e.Message);

    private static IResult Patch(string id, NodePatch body, NodeService nodes, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        if (body.Name is { } name && !BootSettings.IsValidName(name))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "invalid name", $"'{name}': use letters, digits, '-', '_' and '.'");
        }

        if (body.Name is { } taken && nodes.Store.List().Any(n => n.Name == taken && n.Id != node.Id && n.State != NodeState.Replaced))
        {
            return Problem(StatusCodes.Status409Conflict, "name taken", $"another node is named {taken}");
        }

        var updated = nodes.Update(node.Id, NodeEventKind.Operator, "renamed or relabelled", Actor(http), n =>
        {
            n.Name = body.Name ?? n.Name;
            n.Labels = body.Labels ?? n.Labels;
        });
        return Results.Ok(NodeView.From(updated));
    }

    private static IResult Approve(string id, NodeService nodes, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        var actor = Actor(http);
        try
        {
            var updated = node.State switch
            {
                NodeState.Enrolling => nodes.Update(node.Id, NodeEventKind.Operator, "EK and firmware approved; the node's next attestation completes and pins its firmware PCRs anew", actor, ApproveRecord, "approved"),
                NodeState.Quarantined => nodes.Transition(node.Id, NodeState.Enrolling, actor, "approved after quarantine; the node's next attestation decides", ApproveRecord),
                _ => throw new IllegalTransitionException($"node {node.Id} is {node.State}: only Enrolling or Quarantined nodes wait for approval"),
            };
            return Results.Ok(NodeView.From(updated));
        }
        catch (IllegalTransitionException e)
        {
            return Conflict(e);
        }
    }

    private static IResult RotateKey(string id, NodeService nodes, IEnumerable<INodeLifecycleHooks> hooks, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        if (node.State is not (NodeState.Attested or NodeState.Ready) || node.WireGuardPublicKey is null)
        {
            return Problem(StatusCodes.Status409Conflict, "no key to rotate", $"node {node.Id} is {node.State}: only an Attested or Ready node has a WireGuard key to rotate");
        }

        var updated = nodes.Update(node.Id, NodeEventKind.Operator, $"WireGuard key rotated: key epoch {node.Epoch} -> {node.Epoch + 1}; the hub dropped the current key, the next boot derives the new one", Actor(http), n => n.Epoch++, "rotate-key");
        foreach (var hook in hooks)
        {
            hook.OnKeyRotated(updated);
        }

        return Results.Ok(NodeView.From(updated));
    }

    private static IResult Repin(string id, NodeService nodes, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        if (NodeTransitions.IsTerminal(node.State))
        {
            return Problem(StatusCodes.Status409Conflict, "node closed", $"node {node.Id} is {node.State}");
        }

        var updated = nodes.Update(node.Id, NodeEventKind.Operator, "re-pin allowed: the next boot carries kldload.repin=1 until the node attests", Actor(http), n => n.RepinPending = true, "repin");
        return Results.Ok(NodeView.From(updated));
    }

    /// <summary>An approval accepts the EK and the firmware as they are now: the next attestation pins PCRs 0, 2 and 7 again.</summary>
    private static void ApproveRecord(NodeRecord n)
    {
        n.EkApproved = true;
        n.PinnedPcrs = null;
    }

    private static IResult Reimage(string id, ReimageRequest body, NodeService nodes, IBootImageSource images, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        ImageRef? pinned = null;
        if (body.ImageName is not null || body.ImageVersion is not null)
        {
            if (body.ImageName is null || body.ImageVersion is null || images.Resolve(body.ImageName, body.ImageVersion) is null)
            {
                return Problem(StatusCodes.Status422UnprocessableEntity, "unknown image", $"image '{body.ImageName} {body.ImageVersion}' is not in the store");
            }

            pinned = new ImageRef { Name = body.ImageName, Version = body.ImageVersion };
        }
        else if (body.Channel is null || images.ResolveChannel(body.Channel) is null)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "unknown channel", $"channel '{body.Channel}' does not exist or points at no image; give channel, or imageName and imageVersion");
        }

        try
        {
            var what = pinned?.ToString() ?? $"channel {body.Channel}";
            var updated = nodes.Transition(node.Id, NodeState.Reimaging, Actor(http), $"reimage with {what}; the next boot takes it", n =>
            {
                n.PinnedImage = pinned;
                n.Channel = pinned is null ? body.Channel : null;
            });
            return Results.Ok(NodeView.From(updated));
        }
        catch (IllegalTransitionException e)
        {
            return Conflict(e);
        }
    }

    private static IResult Decommission(string id, NodeService nodes, IEnumerable<INodeLifecycleHooks> hooks, HttpContext http)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        try
        {
            var updated = nodes.Transition(node.Id, NodeState.Decommissioned, Actor(http), "decommissioned: EK and key revoked, attestation refused from now on");
            foreach (var hook in hooks)
            {
                hook.OnDecommissioned(updated);
            }

            return Results.Ok(NodeView.From(updated));
        }
        catch (IllegalTransitionException e)
        {
            return Conflict(e);
        }
    }

    private static IResult Replace(string id, ReplaceRequest body, NodeService nodes, IEnumerable<INodeLifecycleHooks> hooks, HttpContext http)
    {
        if (nodes.Find(id) is not { } old)
        {
            return NotFound(id);
        }

        if (body.With is null || nodes.Find(body.With) is not { } replacement || replacement.Id == old.Id)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "unknown replacement", $"'{body.With}' is not another node; boot the new hardware once so it is recorded, then replace");
        }

        if (replacement.State is NodeState.Decommissioned or NodeState.Replaced or NodeState.Ready)
        {
            return Problem(StatusCodes.Status409Conflict, "illegal replacement", $"node {replacement.Id} is {replacement.State}: the replacement must be new hardware that has not joined the mesh");
        }

        var actor = Actor(http);
        try
        {
            var oldName = old.Name;
            var moved = nodes.Transition(old.Id, NodeState.Replaced, actor, $"identity moved to {replacement.Id}; old EK revoked", n =>
            {
                n.ReplacedBy = replacement.Id;
                n.Name = $"{oldName}-replaced-{n.Id[..6]}";
            });
            var where = replacement.Location?.Describe() is { Length: > 0 } w ? $" at {w}" : string.Empty;
            var was = old.Location?.Describe() is { Length: > 0 } ow ? $" (was at {ow})" : string.Empty;
            var updated = nodes.Update(replacement.Id, NodeEventKind.Operator, $"took the identity of {old.Id} ({oldName}){was}{where}: name, profile, labels, mesh address", actor, n =>
            {
                n.Name = oldName;
                n.Labels = new Dictionary<string, string>(old.Labels);
                n.Channel = old.Channel;
                n.PinnedImage = old.PinnedImage;
                n.Profile = old.Profile;
                n.MeshAddress = old.MeshAddress;
                n.MeshAddress4 = old.MeshAddress4;
                n.MeshIdentity = old.EffectiveMeshIdentity;
                n.Replaces = old.Id;
                n.EkApproved = true;
                n.RepinPending = true;
            }, "replace");
            if (updated.State == NodeState.Quarantined)
            {
                updated = nodes.Transition(updated.Id, NodeState.Enrolling, actor, "approved by replace; the next attestation decides");
            }

            foreach (var hook in hooks)
            {
                hook.OnReplaced(moved, updated);
            }

            return Results.Ok(NodeView.From(updated));
        }
        catch (IllegalTransitionException e)
        {
            return Conflict(e);
        }
    }

    private static IResult PutProfile(string name, Profile body, IProfileStore profiles)
    {
        if (!BootSettings.IsValidName(name))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "invalid name", $"profile name '{name}': use letters, digits, '-', '_' and '.'");
        }

        if (body.EnrollmentPolicy is { } policy && !Enum.TryParse<EnrollmentPolicy>(policy, ignoreCase: false, out _))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "invalid enrollment policy", $"'{policy}': allowed: {string.Join(", ", Enum.GetNames<EnrollmentPolicy>())}");
        }

        if (body.Match.IsEmpty)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "empty match", "a profile must match on at least one of macs, uuids, serials, circuitIds, remoteIds, labels, facts");
        }

        foreach (var expression in body.Match.Facts)
        {
            try
            {
                FactsExpression.Parse(expression);
            }
            catch (FactsExpressionException e)
            {
                return Problem(StatusCodes.Status422UnprocessableEntity, "invalid facts expression", e.Message);
            }
        }

        if (body.Match.Facts.Count > 0 && body.EnrollmentPolicy is nameof(EnrollmentPolicy.Auto) or nameof(EnrollmentPolicy.Lab))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "facts never raise trust",
                $"a profile that matches on facts cannot set enrollmentPolicy {body.EnrollmentPolicy}: a node reports its facts itself; match on operator-set labels alone to raise trust");
        }

        if (body.Commission?.BurnIn is { } burnIn && !Commission.TryParseDuration(burnIn, out _, out var burnInError))
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "invalid burn-in", burnInError);
        }

        if (body.Install?.Validate() is { Count: > 0 } installErrors)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "invalid install", string.Join("; ", installErrors));
        }

        body.Name = name;
        profiles.Upsert(body);
        return Results.Ok(body);
    }

    private static async Task Stream(HttpContext http, NodeService nodes, CancellationToken cancellationToken)
    {
        http.Response.Headers.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        json.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        var reader = nodes.Subscribe(cancellationToken);
        await http.Response.WriteAsync(": kldload events\n\n", cancellationToken).ConfigureAwait(false);
        await http.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await foreach (var e in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await http.Response.WriteAsync($"id: {e.Id}\ndata: {JsonSerializer.Serialize(NodeEventView.From(e), json)}\n\n", cancellationToken).ConfigureAwait(false);
                await http.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away or the server is stopping.
        }
    }
}
