using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kldload.Provisioner.Backup;

/// <summary>One file of a backup archive: its path in the archive, size, SHA-256 and Unix mode.</summary>
public sealed record BackupEntry(string Path, long Size, string Sha256, int Mode);

/// <summary>What a backup holds, counted when it was taken (printed by backup, verify and restore).</summary>
public sealed record BackupCounts
{
    public int Collections { get; init; }

    public long Documents { get; init; }

    public long Nodes { get; init; }

    public long Events { get; init; }

    public long Images { get; init; }

    public long Channels { get; init; }

    public long Leases { get; init; }

    /// <summary>DHCPv6 lease records (any state).</summary>
    public long Leases6 { get; init; }

    public int Blobs { get; init; }

    public long BlobBytes { get; init; }

    public override string ToString() =>
        $"{Nodes} nodes, {Events} events, {Leases} leases, {Leases6} DHCPv6 leases, {Images} image versions, {Channels} channels, {Blobs} blobs ({BlobBytes / 1048576.0:0.0} MiB), {Documents} documents in {Collections} collections";
}

/// <summary>
/// <c>MANIFEST.json</c>, the last file of every backup archive: the digest of every other file, so a
/// restore checks the whole archive before anything reaches the target directory.
/// </summary>
public sealed record BackupManifest
{
    public const string FileName = "MANIFEST.json";
    public const string CurrentFormat = "kldload-backup/1";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Format { get; init; } = CurrentFormat;

    public required DateTimeOffset Created { get; init; }

    public required string KldloadVersion { get; init; }

    public required string Host { get; init; }

    public required string DataDir { get; init; }

    public required bool IncludesImages { get; init; }

    /// <summary>LiteDB's <c>UserVersion</c> pragma of kldload.db.</summary>
    public int DatabaseUserVersion { get; init; }

    /// <summary>
    /// <c>PostgreSql</c> when the instance kept its state in PostgreSQL: the archive then holds no
    /// database and no leases (back those up with pg_dump or replication); null for kldload.db.
    /// </summary>
    public string? ExternalDatabase { get; init; }

    public required BackupCounts Counts { get; init; }

    public required IReadOnlyList<BackupEntry> Entries { get; init; }
}

/// <summary>The paths inside a backup archive and where each lands in a data directory.</summary>
internal static class BackupLayout
{
    public const string DatabasePrefix = "db/";
    public const string DatabaseSuffix = ".bson";
    public const string LeaseJournal = "leases/leases.journal";

    /// <summary>The DHCPv6 leases (<c>{DataDir}/leases6.journal</c>), compacted.</summary>
    public const string Lease6Journal = "leases/leases6.journal";
    public const string MeshCaPrefix = "meshca/";
    public const string AdminToken = "auth/admin.token";

    /// <summary>The key that seals BMC passwords in the <c>node_bmcs</c> collection (<c>{DataDir}/bmc.key</c>).</summary>
    public const string BmcKey = "auth/bmc.key";
    /// <summary><c>Mesh:CaKeyFile</c> when set outside the CA directory; a restore puts it at the default, <c>{DataDir}/meshca/ca.key</c>.</summary>
    public const string MeshCaKey = "auth/mesh-ca.key";
    public const string BlobsPrefix = "images/blobs/";
    public const string TrustedKeysPrefix = "images/trusted-keys/";
    public const string Settings = "settings.json";

    /// <summary>Where settings in force at backup time are put by a restore (for the operator to compare).</summary>
    public const string RestoredSettingsFile = "backup-settings.json";

    /// <summary>True for a relative path of plain segments under a known prefix: no traversal, no surprises.</summary>
    public static bool IsAllowed(string path)
    {
        if (path.Length is 0 or > 512 || path.StartsWith('/') || path.Contains('\\', StringComparison.Ordinal) || path.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        var segments = path.Split('/');
        if (segments.Any(s => s.Length == 0 || s == "." || s == ".."))
        {
            return false;
        }

        return path is LeaseJournal or Lease6Journal or AdminToken or BmcKey or MeshCaKey or Settings or BackupManifest.FileName
            || (path.StartsWith(DatabasePrefix, StringComparison.Ordinal) && segments.Length == 2 && path.EndsWith(DatabaseSuffix, StringComparison.Ordinal)
                && CollectionName(path).All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            || path.StartsWith(MeshCaPrefix, StringComparison.Ordinal)
            || (path.StartsWith(BlobsPrefix, StringComparison.Ordinal) && segments.Length == 3)
            || path.StartsWith(TrustedKeysPrefix, StringComparison.Ordinal);
    }

    public static string CollectionName(string path) => path[DatabasePrefix.Length..^DatabaseSuffix.Length];
}
