using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Api;

/// <summary>The caller of <c>GET /api/v1/whoami</c>: the token's name and role (viewer, operator or admin).</summary>
public sealed record WhoAmIView(string Name, string Role);

/// <summary>
/// What an operator checks before approving a node (<c>GET /api/v1/nodes/{id}/approval</c>): the EK
/// fingerprint, the EK certificate's subject and issuer when the TPM presented one, and the hardware
/// facts recorded for the node (null until its first attestation is activated).
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
    DateTime? FactsAt);

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
        api.MapGet("/nodes/{id}/approval", (string id, NodeService nodes) =>
            nodes.Find(id) is { } node ? Results.Ok(Approval(node)) : NotFound(id));
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

    private static ApprovalView Approval(NodeRecord node)
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
        return new ApprovalView(node.Id, node.Name, node.State.ToString(), node.EkFingerprint, node.EkApproved, subject, issuer, notAfter, problem,
            view.Facts, view.FactsBound, view.FactsAt);
    }

    private static IResult NotFound(string id) =>
        NodeEndpoints.Problem(StatusCodes.Status404NotFound, "not found", $"no node with id, name, MAC or UUID '{id}'");
}
