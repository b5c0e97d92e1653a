using System.Security.Cryptography;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;
using Kldload.Tpm.Device;
using Kldload.Tpm.Verification;
using LiteDB;

namespace Kldload.Provisioner.Tests.Attestation;

/// <summary>A database from before EK identity became the key keeps working: fingerprints and revocations move on start.</summary>
public sealed class EkFingerprintMigrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-ekmig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Run_OldWholeStructureFingerprints_NodesAndRevocationsMovedToKeyFingerprint_Once()
    {
        using var rsa = RSA.Create(2048);
        var ek = TpmTemplates.Ek(EkKind.RsaL1).WithUnique(rsa.ExportParameters(false).Modulus!);
        var oldFingerprint = Convert.ToHexStringLower(SHA256.HashData(ek.ToBytes()));
        var keyFingerprint = EkIdentity.Fingerprint(ek);
        Assert.NotEqual(oldFingerprint, keyFingerprint);

        using var db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        var nodes = db.Database.GetCollection<NodeRecord>("nodes");
        nodes.Insert(new NodeRecord { Id = "aaaaaaaaaaaa", Name = "n1", State = NodeState.Decommissioned, EkPublic = Convert.ToBase64String(ek.ToSizedBytes()), EkFingerprint = oldFingerprint });
        new LiteDbRevokedEkStore(db).Revoke(oldFingerprint, "aaaaaaaaaaaa", "decommissioned", DateTime.UtcNow);
        var sessions = db.Database.GetCollection<AttestationSession>("attestsessions");
        sessions.Insert(new AttestationSession { Id = "s1", NodeId = "aaaaaaaaaaaa", State = AttestationSessionState.Quoted, EkFingerprint = oldFingerprint, ExpiresAt = DateTime.UtcNow.AddMinutes(5) });

        Assert.Equal(1, LiteDbEkFingerprintMigration.Run(db));

        Assert.Equal(keyFingerprint, nodes.FindById("aaaaaaaaaaaa").EkFingerprint);
        var revoked = new LiteDbRevokedEkStore(db);
        Assert.True(revoked.IsRevoked(keyFingerprint, out _));
        Assert.False(revoked.IsRevoked(oldFingerprint, out _));
        Assert.Equal(AttestationSessionState.Failed, sessions.FindById("s1").State);
        Assert.Equal(0, LiteDbEkFingerprintMigration.Run(db));
        Assert.NotNull(db.Database.GetCollection("meta").FindById(new BsonValue("ek-fingerprint-spki-v1")));
    }
}
