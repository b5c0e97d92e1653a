using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Revoked EKs in LiteDB, collection <c>revokedeks</c>: one untyped document per EK,
/// <c>{ _id: fingerprint, nodeId, why, at }</c> (<see cref="Storage.LiteDbEkFingerprintMigration"/> rewrites them in place).
/// </summary>
public sealed class LiteDbRevokedEkStore : IRevokedEkStore
{
    private readonly ILiteCollection<BsonDocument> _revoked;

    public LiteDbRevokedEkStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _revoked = database.Database.GetCollection("revokedeks");
    }

    public void Revoke(string fingerprint, string nodeId, string why, DateTime at) =>
        _revoked.Upsert(new BsonDocument { ["_id"] = fingerprint, ["nodeId"] = nodeId, ["why"] = why, ["at"] = at });

    public bool IsRevoked(string fingerprint, out string? why)
    {
        var doc = _revoked.FindById(fingerprint);
        why = doc?["why"].AsString;
        return doc is not null;
    }

    /// <summary>Every revocation: for <c>kldload db migrate</c>.</summary>
    public IReadOnlyList<RevokedEk> All() =>
        [.. _revoked.FindAll().Select(d => new RevokedEk(d["_id"].AsString, d["nodeId"].AsString, d["why"].AsString, d["at"].AsDateTime))];
}
