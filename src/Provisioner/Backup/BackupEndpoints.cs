using Kldload.Age;

namespace Kldload.Provisioner.Backup;

/// <summary>The backup request: age recipients (public keys only: the server never sees a secret).</summary>
public sealed record BackupRequest(IReadOnlyList<string>? Recipients, bool? IncludeImages);

/// <summary><c>POST /api/v1/backup</c>: streams an encrypted backup of the running service.</summary>
public static class BackupEndpoints
{
    public static RouteGroupBuilder MapBackupEndpoints(this RouteGroupBuilder admin)
    {
        ArgumentNullException.ThrowIfNull(admin);
        admin.MapPost("/backup", async (BackupRequest request, BackupService backups, HttpContext http, CancellationToken ct) =>
        {
            var recipients = new List<AgeRecipient>();
            foreach (var text in request.Recipients ?? [])
            {
                if (!AgeRecipient.TryParse(text, out var r, out var error))
                {
                    return Results.Problem(statusCode: StatusCodes.Status400BadRequest, detail: $"recipient '{text}' is {error}");
                }

                recipients.Add(r!);
            }

            if (recipients.Count == 0)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, detail: "at least one age recipient (age1...) is required: a backup is always encrypted");
            }

            http.Response.ContentType = "application/octet-stream";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"kldload-backup-{DateTime.UtcNow:yyyyMMddTHHmmssZ}.age\"";
            try
            {
                await backups.WriteAsync(http.Response.Body, s => AgeEncryptingStream.ToRecipients(s, recipients, leaveOpen: true), request.IncludeImages ?? true, "api", ct).ConfigureAwait(false);
            }
            catch (Exception) when (http.Response.HasStarted)
            {
                // Half an archive must never look like a whole one: cut the connection (the age
                // stream has no final chunk, and the client sees the transfer fail).
                http.Abort();
            }

            return Results.Empty;
        }).WithName("Backup").WithSummary("Stream an encrypted (age) backup of the database, mesh CA, leases, token, settings and images.");
        return admin;
    }
}
