namespace Kldload.Provisioner.Power;

/// <summary>
/// Rollouts, by id, each written whole (its nodes and skips with it) so a restarted kldload resumes
/// where it stopped. Implementations: <see cref="LiteDbRolloutStore"/>, <see cref="PostgresRolloutStore"/>.
/// </summary>
public interface IRolloutStore
{
    RolloutRecord? Get(string id);

    /// <summary>Every rollout, newest (<see cref="RolloutRecord.CreatedAt"/>) first.</summary>
    IReadOnlyList<RolloutRecord> List();

    /// <summary>Running or paused rollouts (<see cref="RolloutRecord.IsActive"/>), oldest first.</summary>
    IReadOnlyList<RolloutRecord> Active();

    /// <summary>Stores the rollout, replacing every field of an earlier version of it.</summary>
    void Upsert(RolloutRecord record);
}
