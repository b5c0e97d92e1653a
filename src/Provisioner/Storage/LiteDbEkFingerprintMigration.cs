using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;
using LiteDB;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// Fixes kldload.db files written before EK identity became the key (<see cref="EkIdentity"/>), which
/// stored SHA-256 of the whole TPMT_PUBLIC. On start, every node's fingerprint is recomputed from the
/// EK public area it kept, revocations follow their node's new fingerprint, and attestation sessions
/// still open are closed (the node retries). Runs once; a marker in collection <c>meta</c> says so.
/// A LiteDB-only migration: a PostgreSQL database is always created with the key fingerprint.
/// It reads and writes the documents as they are in the file (collections <c>nodes</c>,
/// <c>revokedeks</c>, <c>attestsessions</c>), not through the stores, so it depends on no mapping.
/// </summary>
public static class LiteDbEkFingerprintMigration
{
    private const string Marker = "ek-fingerprint-spki-v1";

    /// <summary>Migrates if needed; returns how many nodes changed.</summary>
    public static int Run(LiteKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var db = database.Database;
        var meta = db.GetCollection("meta");
        if (meta.FindById(Marker) is not null)
        {
            return 0;
        }

        var nodes = db.GetCollection("nodes");
        var revoked = db.GetCollection("revokedeks");
        var sessions = db.GetCollection("attestsessions");
        var changed = 0;
        db.BeginTrans();
        try
        {
            foreach (var node in nodes.Find(Query.Not("EkPublic", BsonValue.Null)).ToList())
            {
                var old = node["EkFingerprint"].IsString ? node["EkFingerprint"].AsString : null;
                if (!node["EkPublic"].IsString || KeyFingerprint(node["EkPublic"].AsString) is not { } fresh || fresh == old)
                {
                    continue;
                }

                node["EkFingerprint"] = fresh;
                nodes.Update(node);
                changed++;
                if (old is not null && revoked.FindById(old) is { } entry)
                {
                    revoked.Delete(old);
                    entry["_id"] = fresh;
                    revoked.Upsert(entry);
                }
            }

            // Session states are stored by name (AttestationSessionState).
            foreach (var open in sessions.Find(Query.In("State", "Challenged", "Quoted")).ToList())
            {
                open["State"] = "Failed";
                open.Remove("Secret");
                open["ClosedBecause"] = "closed by the EK fingerprint migration: ask for a new challenge";
                sessions.Update(open);
            }

            meta.Upsert(new BsonDocument { ["_id"] = Marker, ["at"] = DateTime.UtcNow, ["nodes"] = changed });
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }

        return changed;
    }

    private static string? KeyFingerprint(string ekPublicBase64)
    {
        try
        {
            return TpmMarshal.TryRead<Tpm2bPublic>(Convert.FromBase64String(ekPublicBase64), out var ek, out _)
                ? EkIdentity.Fingerprint(ek.Public)
                : null;
        }
        catch (Exception e) when (e is FormatException or AttestationException)
        {
            return null;
        }
    }
}
