using System.Security.Cryptography;
using System.Text;
using Kldload.Bmc;
using Kldload.Bmc.Ipmi;
using Kldload.Bmc.Redfish;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Power;

namespace Kldload.Provisioner.Api;

/// <summary><c>PUT /api/v1/nodes/{id}/bmc</c>: a node's BMC. The password goes in and never comes out.</summary>
public sealed record BmcSetRequest(string? Protocol, string? Address, int? Port, string? User, string? Password, string? SystemId, string? Fingerprint);

/// <summary>A node's BMC as the API shows it: everything but the password.</summary>
public sealed record BmcView(string NodeId, string Protocol, string Address, int? Port, string User, string? SystemId, string? Fingerprint, string? BmcUuid, string? PairingWarning, DateTime UpdatedAt, string? PowerState, DateTime? PowerStateAt)
{
    public static BmcView From(BmcRecord r, NodeRecord n)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(n);
        return new BmcView(r.Id, r.Protocol.ToString().ToLowerInvariant(), r.Address, r.Protocol == BmcProtocol.Ipmi ? r.Port : null, r.User, r.SystemId, r.Fingerprint, r.BmcUuid, r.PairingWarning,
            NodeView.Utc(r.UpdatedAt), n.PowerState, n.PowerStateAt is { } at ? NodeView.Utc(at) : null);
    }
}

/// <summary><c>POST /api/v1/nodes/{id}/power</c>: <c>on</c>, <c>off</c>, <c>cycle</c>, <c>status</c> or <c>pxe</c> (next boot from the network, once).</summary>
public sealed record PowerRequest(string? Action);

/// <summary>The answer to a power request: the state read after it.</summary>
public sealed record PowerView(string NodeId, string Name, string Action, string? PowerState, DateTime? PowerStateAt);

/// <summary>The admin API for out-of-band power (issue 15).</summary>
public static class PowerEndpoints
{
    public static RouteGroupBuilder MapPowerEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/nodes/{id}/bmc", (string id, NodeService nodes, PowerService power) =>
            nodes.Find(id) is not { } n ? NotFound(id)
            : power.Get(n.Id) is { } r ? Results.Ok(BmcView.From(r, n))
            : NodeEndpoints.Problem(StatusCodes.Status404NotFound, "no BMC", $"node {n.Id} has no BMC recorded"));
        api.MapPut("/nodes/{id}/bmc", SetAsync);
        api.MapPost("/nodes/{id}/power", PowerAsync);
        return api;
    }

    /// <summary>Every problem with a BMC request at once; an empty list when it can be tried.</summary>
    public static List<string> Validate(BmcSetRequest body, out BmcRecord record)
    {
        ArgumentNullException.ThrowIfNull(body);
        var errors = new List<string>();
        record = new BmcRecord { User = body.User ?? string.Empty, Address = body.Address?.Trim() ?? string.Empty };
        if (!Enum.TryParse<BmcProtocol>(body.Protocol, ignoreCase: true, out var protocol) || int.TryParse(body.Protocol, out _))
        {
            errors.Add($"protocol '{body.Protocol}': use ipmi or redfish");
        }

        record.Protocol = protocol;
        if (string.IsNullOrWhiteSpace(body.User))
        {
            errors.Add("user is required");
        }

        if (body.Password is null)
        {
            errors.Add("password is required");
        }

        if (record.Address.Length == 0)
        {
            errors.Add("address is required");
        }

        if (protocol == BmcProtocol.Ipmi)
        {
            record.Port = body.Port ?? IpmiLanOptions.DefaultPort;
            if (record.Port is < 1 or > 65535)
            {
                errors.Add($"port {record.Port} is not a UDP port");
            }

            if (Encoding.ASCII.GetByteCount(record.User) > 16)
            {
                errors.Add("an IPMI user name is at most 16 bytes");
            }

            if (body.Password is { } p && Encoding.UTF8.GetByteCount(p) > 20)
            {
                errors.Add("an IPMI 2.0 password is at most 20 bytes");
            }
        }
        else if (protocol == BmcProtocol.Redfish)
        {
            if (record.Address.Length > 0 && (!Uri.TryCreate(record.Address, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")))
            {
                errors.Add($"address '{record.Address}': a Redfish service is an https:// URL");
            }

            record.SystemId = body.SystemId;
            if (string.IsNullOrWhiteSpace(body.SystemId))
            {
                errors.Add("systemId is required for Redfish (the ComputerSystem id, as in /redfish/v1/Systems/{id})");
            }

            if (body.Fingerprint is { } f)
            {
                record.Fingerprint = RedfishOptions.NormalizeFingerprint(f);
                if (record.Fingerprint is null)
                {
                    errors.Add($"fingerprint '{f}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
                }
            }
        }

        return errors;
    }

    private static async Task<IResult> SetAsync(string id, BmcSetRequest body, NodeService nodes, PowerService power, HttpContext http, CancellationToken cancellationToken)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        var errors = Validate(body, out var candidate);
        if (errors.Count > 0)
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid BMC", string.Join("; ", errors));
        }

        try
        {
            var (record, updated) = await power.SetAsync(node, candidate, body.Password!, NodeEndpoints.Actor(http), cancellationToken).ConfigureAwait(false);
            return Results.Ok(BmcView.From(record, updated));
        }
        catch (BmcException e)
        {
            return Failure(e, "the BMC record is unchanged");
        }
    }

    private static async Task<IResult> PowerAsync(string id, PowerRequest body, NodeService nodes, PowerService power, HttpContext http, CancellationToken cancellationToken)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        if (!Enum.TryParse<PowerAction>(body.Action, ignoreCase: true, out var action) || int.TryParse(body.Action, out _))
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid action", $"action '{body.Action}': use on, off, cycle, status or pxe");
        }

        try
        {
            var updated = await power.PowerAsync(node, action, NodeEndpoints.Actor(http), cancellationToken).ConfigureAwait(false);
            return Results.Ok(new PowerView(updated.Id, updated.Name, action.ToString().ToLowerInvariant(), updated.PowerState, updated.PowerStateAt is { } at ? NodeView.Utc(at) : null));
        }
        catch (NoBmcException e)
        {
            return NodeEndpoints.Problem(StatusCodes.Status409Conflict, "no BMC", e.Message);
        }
        catch (CryptographicException e)
        {
            return NodeEndpoints.Problem(StatusCodes.Status500InternalServerError, "BMC password cannot be opened", e.Message);
        }
        catch (BmcException e)
        {
            return Failure(e, "the node's recorded power state is unchanged");
        }
    }

    private static IResult Failure(BmcException e, string consequence) => e.Kind switch
    {
        BmcErrorKind.AuthenticationFailed => NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "BMC refused the login", $"{e.Message}; {consequence}"),
        BmcErrorKind.Unreachable => NodeEndpoints.Problem(StatusCodes.Status504GatewayTimeout, "BMC did not answer", $"{e.Message}; {consequence}"),
        _ => NodeEndpoints.Problem(StatusCodes.Status502BadGateway, "BMC refused the request", $"{e.Message}; {consequence}"),
    };

    private static IResult NotFound(string id) =>
        NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no node with id, name, MAC or UUID '{id}'");
}
