using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;
using LiteDB;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Databases written before EK identity became the key (<see cref="EkIdentity"/>) stored
/// SHA-256 of the whole TPMT_PUBLIC. On start, every node's fingerprint is recomputed from the EK
/// public area it kept, revocations follow their node's new fingerprint, and attestation sessions
/// still open are closed (the node retries). Runs once; a marker in collection <c>meta</c> says so.
/// </summary>
public static class EkFingerprintMigration
{
    private const string Marker = "ek-fingerprint-spki-v1";

    /// <summary>Migrates if needed; returns how many nodes changed.</summary>
    public static int Run(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var db = database.Database;
        var meta = db.GetCollection("meta");
        if (meta.FindById(Marker) is not null)
        {
            return 0;
        }

        var nodes = db.GetCollection<NodeRecord>("nodes");
        var revoked = db.GetCollection("revokedeks");
        var sessions = db.GetCollection<AttestationSession>("attestsessions");
        var changed = 0;
        db.BeginTrans();
        try
        {
            foreach (var node in nodes.FindAll().Where(n => n.EkPublic is not null).ToList())
            {
                if (KeyFingerprint(node.EkPublic!) is not { } fresh || fresh == node.EkFingerprint)
                {
                    continue;
                }

                var old = node.EkFingerprint;
                node.EkFingerprint = fresh;
                nodes.Update(node);
                changed++;
                if (old is not null && revoked.FindById(old) is { } entry)
                {
                    revoked.Delete(old);
                    entry["_id"] = fresh;
                    revoked.Upsert(entry);
                }
            }

            foreach (var open in sessions.Find(s => s.State == AttestationSessionState.Challenged || s.State == AttestationSessionState.Quoted).ToList())
            {
                open.State = AttestationSessionState.Failed;
                open.Secret = null;
                open.ClosedBecause = "closed by the EK fingerprint migration: ask for a new challenge";
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
