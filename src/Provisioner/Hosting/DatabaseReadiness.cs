using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Hosting;

/// <summary>The database's part of <c>/readyz</c>: ready while a trivial read succeeds.</summary>
internal sealed class DatabaseReadiness(IDatabaseHealth db) : IReadinessCheck
{
    public string Name => "database";

    public bool IsReady(out string? problem) => db.IsHealthy(out problem);
}
