namespace Kldload.Provisioner.Api;

/// <summary>The body of <c>POST /api/v1/tokens</c>.</summary>
public sealed record TokenCreateRequest(string? Name, string? Role);

/// <summary>A token as the API shows it: never the token or its hash.</summary>
public sealed record TokenView(string Name, string Role, DateTime Created, string CreatedBy, DateTime? LastUsed, DateTime? Revoked)
{
    public static TokenView From(OperatorToken t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return new(t.Name, OperatorRoles.Name(t.Role), NodeView.Utc(t.Created), t.CreatedBy, t.LastUsed is { } used ? NodeView.Utc(used) : null, t.Revoked is { } r ? NodeView.Utc(r) : null);
    }
}

/// <summary>A new token: the only time its text leaves the server.</summary>
public sealed record TokenCreatedView(string Name, string Role, DateTime Created, string Token);

/// <summary>
/// Named operator tokens over the admin API (<c>/api/v1/tokens</c>, admin role; issue 23): create
/// (the response carries the token, once), list, revoke (effective on the next request).
/// </summary>
public static partial class TokenEndpoints
{
    public static RouteGroupBuilder MapTokenEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/tokens", (OperatorTokens tokens) => tokens.List().Select(TokenView.From).ToList());
        api.MapPost("/tokens", Create);
        api.MapPost("/tokens/{name}/revoke", Revoke);
        return api;
    }

    private static IResult Create(TokenCreateRequest body, OperatorTokens tokens, HttpContext http, ILoggerFactory logs)
    {
        if (!OperatorRoles.TryParse(body.Role, out var role))
        {
            return NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid role", $"role '{body.Role}': use viewer, operator or admin");
        }

        var by = AdminRoutes.Caller(http).Name;
        return tokens.TryCreate(body.Name ?? string.Empty, role, by, out var record, out var token) switch
        {
            TokenCreateProblem.None => Created(record!, token!, by, logs),
            TokenCreateProblem.InvalidName => NodeEndpoints.Problem(StatusCodes.Status422UnprocessableEntity, "invalid name", $"token name '{body.Name}': 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"),
            TokenCreateProblem.ReservedName => NodeEndpoints.Problem(StatusCodes.Status409Conflict, "name reserved", $"'{OperatorIdentity.BootstrapName}' is the bootstrap token's name (Auth:AdminTokenFile)"),
            _ => NodeEndpoints.Problem(StatusCodes.Status409Conflict, "name taken", $"a token named {body.Name} exists or existed (names are never reused, so the history stays unambiguous)"),
        };
    }

    private static IResult Created(OperatorToken record, string token, string by, ILoggerFactory logs)
    {
        Log.Created(logs.CreateLogger("Kldload.Tokens"), record.Name, OperatorRoles.Name(record.Role), by);
        return Results.Created($"/api/v1/tokens/{record.Name}", new TokenCreatedView(record.Name, OperatorRoles.Name(record.Role), NodeView.Utc(record.Created), token));
    }

    private static IResult Revoke(string name, OperatorTokens tokens, HttpContext http, ILoggerFactory logs)
    {
        if (!tokens.Revoke(name, out var record))
        {
            return NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no token named {name}");
        }

        Log.Revoked(logs.CreateLogger("Kldload.Tokens"), name, AdminRoutes.Caller(http).Name);
        return Results.Ok(TokenView.From(record!));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.TokenCreated, Level = LogLevel.Information, Message = "token {Name} created with the {Role} role by {By}")]
        public static partial void Created(ILogger logger, string name, string role, string by);

        [LoggerMessage(EventId = LogEvents.TokenRevoked, Level = LogLevel.Information, Message = "token {Name} revoked by {By}")]
        public static partial void Revoked(ILogger logger, string name, string by);
    }
}
