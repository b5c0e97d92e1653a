using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Api;

/// <summary>The caller of <c>GET /api/v1/whoami</c>: the token's name and role (viewer, operator or admin).</summary>
public sealed record WhoAmIView(string Name, string Role);

/// <summary>
/// What an operator checks before approving a node (<c>GET /api/v1/nodes/{id}/approval</c>): the EK
/// fingerprint, the EK certificate's subject and issuer when the TPM presented one, the hardware
/// facts recorded for the node (null until an attestation of it is admitted) and, while it waits for
/// approval (Enrolling or Quarantined), the facts it sent with the attestation that left it waiting
/// (<c>SentFacts</c>, from the node's last attestation whose TPM proved this EK; recorded nowhere else
/// until the node is admitted). <c>SentFactsTrust</c> says what they are worth: <c>bound</c>, the quote
/// the TPM signed covers them, so they are what that TPM's boot reported (still unapproved: approving
/// is trusting them); <c>claimed</c>, sent beside the quote and not covered by it (the older quote
/// form), so nothing proves them.
/// </summary>
public sealed record ApprovalView(
    string NodeId,
    string Name,
    string State,
    string? EkFingerprint,
    bool EkApproved,
    string? CertificateSubject,
    string? CertificateIssuer,
    DateTime? CertificateNotAfter,
    string? CertificateProblem,
    JsonElement? Facts,
    bool? FactsBound,
    DateTime? FactsAt,
    JsonElement? SentFacts = null,
    string? SentFactsTrust = null,
    DateTime? SentFactsAt = null);

/// <summary>One bar of <c>GET /api/v1/nodes/{id}/boots</c>.</summary>
public sealed record BootStepView(string Step, DateTime Start, DateTime End, double Seconds, string Message, bool Failed);

/// <summary>One boot of <c>GET /api/v1/nodes/{id}/boots</c>, its steps oldest first.</summary>
public sealed record BootView(DateTime Start, DateTime End, double Seconds, string Outcome, IReadOnlyList<BootStepView> Steps);

/// <summary>
/// What the dashboard needs beyond the node, image and rollout routes: who the caller is (so that a
/// viewer is shown no action buttons) and each boot's steps with their times (the boot waterfall).
/// </summary>
public static class DashboardApiEndpoints
{
    /// <summary>At most this many boots per answer, newest first.</summary>
    public const int MaxBoots = 50;

    public static RouteGroupBuilder MapDashboardApiEndpoints(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/whoami", (HttpContext http) =>
        {
            var caller = AdminRoutes.Caller(http);
            return new WhoAmIView(caller.Name, OperatorRoles.Name(caller.Role));
        });
        api.MapGet("/nodes/{id}/boots", Boots);
        api.MapGet("/nodes/{id}/approval", (string id, NodeService nodes, IAttestationSessionStore sessions) =>
            nodes.Find(id) is { } node ? Results.Ok(Approval(node, sessions)) : NotFound(id));
        return api;
    }

    private static IResult Boots(string id, int? limit, NodeService nodes, IBootImageSource images)
    {
        if (nodes.Find(id) is not { } node)
        {
            return NotFound(id);
        }

        var boots = BootWaterfall.Build(nodes.Store.Events(node.Id), (name, version) =>
            images.Resolve(name, version) is { } image ? new BootImageDigests(image.KernelDigest, image.InitrdDigest) : null);
        return Results.Ok(boots.Take(Math.Clamp(limit ?? 10, 1, MaxBoots)).Select(b => new BootView(
            b.Start, b.End, b.Seconds, b.Outcome.ToString(),
            [.. b.Steps.Select(s => new BootStepView(s.Step.ToString(), s.Start, s.End, s.Seconds, s.Message, s.Failed))])).ToList());
    }

    private static ApprovalView Approval(NodeRecord node, IAttestationSessionStore sessions)
    {
        string? subject = null, issuer = null, problem = null;
        DateTime? notAfter = null;
        if (node.EkCertificate is { } der)
        {
            try
            {
                using var certificate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(der));
                subject = certificate.Subject.Length > 0 ? certificate.Subject : "(empty subject: TCG EK certificates name the TPM in subjectAltName)";
                issuer = certificate.Issuer;
                notAfter = certificate.NotAfter.ToUniversalTime();
            }
            catch (Exception e) when (e is CryptographicException or FormatException)
            {
                problem = "the stored EK certificate does not parse: " + e.Message;
            }
        }

        var view = NodeView.From(node);
        var approval = new ApprovalView(node.Id, node.Name, node.State.ToString(), node.EkFingerprint, node.EkApproved, subject, issuer, notAfter, problem,
            view.Facts, view.FactsBound, view.FactsAt);
        return node.State is NodeState.Enrolling or NodeState.Quarantined && node.EkFingerprint is { } ek && sessions.LastProven(node.Id, ek) is { Facts: { } sent } session
            ? approval with { SentFacts = ParseFacts(sent), SentFactsTrust = session.FactsBound ? "bound" : "claimed", SentFactsAt = NodeView.Utc(session.CreatedAt) }
            : approval;
    }

    /// <summary>The stored canonical JSON as a value; a session written by a broken agent shows as the text it sent.</summary>
    private static JsonElement ParseFacts(string facts)
    {
        try
        {
            using var document = JsonDocument.Parse(facts);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(facts);
        }
    }

    private static IResult NotFound(string id) =>
        NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no node with id, name, MAC or UUID '{id}'");
}
