using System.Security.Cryptography;
using Kldload.MeshCA.Authority;
using Kldload.Provisioner.Listeners;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;
using Kldload.Provisioner.Storage.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>
/// What every <see cref="ICaMaterialStore"/> promises: nothing until a CA is added, every part back as
/// stored, the first CA added kept, imports and trusted-root lists replaced in place.
/// </summary>
public abstract class CaMaterialStoreContract
{
    protected abstract ICaMaterialStore Open();

    protected static CaMaterial Generate(string site = "lab") => MeshCertificateAuthority.Generate(site, TimeProvider.System);

    [Fact]
    public void Load_NothingStored_IsNull() => Assert.Null(Open().Load());

    [Fact]
    public void AddIfAbsent_ThenLoad_ReturnsEveryPart()
    {
        var material = Generate();
        Assert.Same(material, Open().AddIfAbsent(material));

        var loaded = Open().Load();
        Assert.Equal(material, loaded);
        using var ca = MeshCertificateAuthority.Open(Open(), TimeProvider.System);
        Assert.Equal(X509Thumbprint(material.IntermediateCertificatePem), ca.Intermediate.Thumbprint);
    }

    [Fact]
    public void AddIfAbsent_SecondCa_KeepsAndReturnsTheFirst()
    {
        var first = Generate("first");
        Open().AddIfAbsent(first);
        var second = Generate("second");

        Assert.Equal(first, Open().AddIfAbsent(second));
        Assert.Equal(first, Open().Load());
    }

    [Fact]
    public void ReplaceIntermediate_KeepsTheRootEntries()
    {
        var original = Generate();
        Open().AddIfAbsent(original);
        var other = Generate("other");

        Open().ReplaceIntermediate(other.IntermediateCertificatePem, other.IntermediateKeyPem, original.TrustedRootsPem + other.TrustedRootsPem);

        var loaded = Open().Load()!;
        Assert.Equal(other.IntermediateCertificatePem, loaded.IntermediateCertificatePem);
        Assert.Equal(other.IntermediateKeyPem, loaded.IntermediateKeyPem);
        Assert.Equal(original.TrustedRootsPem + other.TrustedRootsPem, loaded.TrustedRootsPem);
        Assert.Equal(original.RootCertificatePem, loaded.RootCertificatePem);
        Assert.Equal(original.RootKeyPem, loaded.RootKeyPem);
    }

    [Fact]
    public void AddTrustedRoot_OnOneAuthority_IsSeenByTheNextOpening()
    {
        var rotation = Generate("next");
        using (var ca = MeshCertificateAuthority.OpenOrCreate(Open(), "lab", TimeProvider.System))
        {
            using var newRoot = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(rotation.RootCertificatePem);
            Assert.True(ca.AddTrustedRoot(newRoot));
        }

        using var again = MeshCertificateAuthority.Open(Open(), TimeProvider.System);
        Assert.Equal(2, again.TrustedRoots.Count);
        Assert.True(again.RemoveTrustedRoot(again.TrustedRoots[1].Thumbprint));
        using var third = MeshCertificateAuthority.Open(Open(), TimeProvider.System);
        Assert.Single(third.TrustedRoots);
    }

    protected static string X509Thumbprint(string pem)
    {
        using var c = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(pem);
        return c.Thumbprint;
    }
}

/// <summary>The contract against <see cref="CaDirectoryStore"/> (today's files, LiteDB mode).</summary>
public sealed class CaDirectoryStoreTests : CaMaterialStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-cadir-").FullName;

    protected override ICaMaterialStore Open() => new CaDirectoryStore(Path.Combine(_dir, "meshca"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>
/// The contract against <see cref="PostgresCaMaterialStore"/>, and what sharing the CA among
/// provisioners needs: keys sealed, one CA from a race, a foreign or missing key refused.
/// </summary>
[Trait("Tier", "Integration")]
public sealed class PostgresCaMaterialStoreTests(PostgresFixture postgres) : CaMaterialStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _database = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-pgca-").FullName;

    private string KeyPath => Path.Combine(_dir, "meshca", "ca.key");

    protected override ICaMaterialStore Open() => Open(KeyPath);

    private PostgresCaMaterialStore Open(string keyPath) => new(_database, new CaKeyFile(keyPath));

    public void Dispose()
    {
        _database.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void AddIfAbsent_FirstCa_CreatesAPrivateKeyFileAndNoClearKeyInTheTable()
    {
        var material = Generate();
        Open().AddIfAbsent(material);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyPath));
        Assert.Equal(CaKeyFile.KeySize, new FileInfo(KeyPath).Length);

        using var command = _database.DataSource.CreateCommand("SELECT intermediate_key, root_key, mesh_ca::text FROM mesh_ca");
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        var intermediateKey = reader.GetFieldValue<byte[]>(0);
        var rootKey = reader.GetFieldValue<byte[]>(1);
        var rowText = reader.GetString(2);
        foreach (var pem in new[] { material.IntermediateKeyPem, material.RootKeyPem! })
        {
            var base64 = pem[PemEncoding.Find(pem).Base64Data].Replace("\n", "", StringComparison.Ordinal);
            using var key = ECDsa.Create();
            key.ImportFromPem(pem);
            var scalar = key.ExportParameters(includePrivateParameters: true).D!;
            Assert.DoesNotContain(base64[..40], rowText, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexStringLower(scalar), rowText, StringComparison.Ordinal);
            Assert.Equal(-1, intermediateKey.AsSpan().IndexOf(scalar));
            Assert.Equal(-1, rootKey.AsSpan().IndexOf(scalar));
        }

        Assert.DoesNotContain("PRIVATE KEY", rowText, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenOrCreate_TwoProvisionersTogetherOnAnEmptyDatabase_AgreeOnOneCa()
    {
        // Both generate before either stores: only insert-if-absent keeps them to one CA.
        using var bothGenerated = new Barrier(2);
        var thumbprints = new string[2];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var store = new BarrierStore(Open(), bothGenerated);
            using var ca = MeshCertificateAuthority.OpenOrCreate(store, "site" + i, TimeProvider.System);
            thumbprints[i] = ca.Intermediate.Thumbprint;
        });

        Assert.Equal(thumbprints[0], thumbprints[1]);
        using var stored = MeshCertificateAuthority.Open(Open(), TimeProvider.System);
        Assert.Equal(thumbprints[0], stored.Intermediate.Thumbprint);
        using var count = _database.DataSource.CreateCommand("SELECT count(*) FROM mesh_ca");
        Assert.Equal(1L, count.ExecuteScalar());
    }

    [Fact]
    public void Load_AnotherKeyFile_RefusesNamingTheFileAndChangesNothing()
    {
        Open().AddIfAbsent(Generate());
        var otherKey = Path.Combine(_dir, "other.key");
        File.WriteAllBytes(otherKey, RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(otherKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var before = File.ReadAllBytes(otherKey);

        var e = Assert.Throws<CaKeyFileException>(() => Open(otherKey).Load());
        Assert.Equal(otherKey, e.KeyPath);
        Assert.Contains("does not open the mesh CA", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(otherKey));
        Assert.NotNull(Open().Load());
    }

    [Fact]
    public void Load_KeyFileMissing_RefusesAndDoesNotCreateIt()
    {
        Open().AddIfAbsent(Generate());
        var missing = Path.Combine(_dir, "nowhere", "ca.key");

        var e = Assert.Throws<CaKeyFileException>(() => MeshCertificateAuthority.OpenOrCreate(Open(missing), "lab", TimeProvider.System));
        Assert.Contains($"{missing} is missing", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public void Load_KeyFileReadableByOthers_Refuses()
    {
        Open().AddIfAbsent(Generate());
        File.SetUnixFileMode(KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var e = Assert.Throws<CaKeyFileException>(() => Open().Load());
        Assert.Contains("has mode 0644", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddIfAbsent_LosingTheRaceWithAFreshKey_RefusesAndRemovesTheKeyItMade()
    {
        Open().AddIfAbsent(Generate("winner"));
        var loserKey = Path.Combine(_dir, "loser", "ca.key");

        Assert.Throws<CaKeyFileException>(() => Open(loserKey).AddIfAbsent(Generate("loser")));
        Assert.False(File.Exists(loserKey));
    }

    [Fact]
    public void OpenAuthority_EmptyDatabaseAndCaFilesInTheDataDirectory_ImportsThemSealed()
    {
        var caDirectory = Path.Combine(_dir, MeshHubHosting.CaDirectoryName);
        string thumbprint;
        using (var files = MeshCertificateAuthority.OpenOrCreate(caDirectory, "moved", TimeProvider.System))
        {
            thumbprint = files.Intermediate.Thumbprint;
        }

        using (var ca = MeshHubHosting.OpenAuthority(Open(), caDirectory, TimeProvider.System, NullLogger.Instance))
        {
            Assert.Equal(thumbprint, ca.Intermediate.Thumbprint);
        }

        // Stored in the database now: another provisioner with the key file and no CA files opens it.
        var elsewhere = Path.Combine(_dir, "elsewhere");
        using var other = MeshHubHosting.OpenAuthority(Open(), elsewhere, TimeProvider.System, NullLogger.Instance);
        Assert.Equal(thumbprint, other.Intermediate.Thumbprint);
        Assert.Equal(File.ReadAllText(Path.Combine(caDirectory, MeshCertificateAuthority.RootKeyFile)), Open().Load()!.RootKeyPem);
    }

    [Fact]
    public void OpenAuthority_WrongKey_IsASettingErrorNamingMeshCaKeyFile()
    {
        Open().AddIfAbsent(Generate());
        var otherKey = Path.Combine(_dir, "other.key");
        File.WriteAllBytes(otherKey, RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(otherKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var e = Assert.Throws<SettingBindException>(() => MeshHubHosting.OpenAuthority(Open(otherKey), Path.Combine(_dir, "meshca"), TimeProvider.System, NullLogger.Instance));
        Assert.StartsWith($"Mesh:CaKeyFile = '{otherKey}'", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Holds every <see cref="AddIfAbsent"/> until all callers have generated their CA.</summary>
    private sealed class BarrierStore(ICaMaterialStore inner, Barrier barrier) : ICaMaterialStore
    {
        public string Location => inner.Location;

        public CaMaterial? Load() => inner.Load();

        public CaMaterial AddIfAbsent(CaMaterial material)
        {
            barrier.SignalAndWait(TimeSpan.FromSeconds(30));
            return inner.AddIfAbsent(material);
        }

        public void ReplaceIntermediate(string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem) =>
            inner.ReplaceIntermediate(intermediateCertificatePem, intermediateKeyPem, trustedRootsPem);

        public void SaveTrustedRoots(string trustedRootsPem) => inner.SaveTrustedRoots(trustedRootsPem);
    }
}

/// <summary><c>kldload serve</c> on PostgreSQL with a key file that does not open the stored mesh CA: exit 2 naming <c>Mesh:CaKeyFile</c>.</summary>
[Trait("Tier", "Integration")]
public sealed class PostgresMeshCaServeTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-pgcaserve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Serve_KeyFileThatDoesNotOpenTheStoredCa_ExitsTwoNamingMeshCaKeyFile()
    {
        var connectionString = postgres.CreateDatabase();
        using (var database = PostgresKldloadDatabase.Open(connectionString))
        {
            new PostgresCaMaterialStore(database, new CaKeyFile(Path.Combine(_dir, "creator.key"))).AddIfAbsent(MeshCertificateAuthority.Generate("a", TimeProvider.System));
        }

        var dataDir = Path.Combine(_dir, "var");
        var (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connectionString}");

        Assert.Equal(2, code);
        var keyPath = Path.Combine(dataDir, "meshca", "ca.key");
        Assert.Contains($"Mesh:CaKeyFile = '{keyPath}': {keyPath} is missing", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(keyPath));

        // A key file that is not the creator's: refused too, and the stored CA is kept.
        Directory.CreateDirectory(Path.GetDirectoryName(keyPath)!);
        File.WriteAllBytes(keyPath, RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (code, _, stderr) = await KldloadProcess.RunAsync(_dir, "serve", "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false",
            "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connectionString}");
        Assert.Equal(2, code);
        Assert.Contains($"Mesh:CaKeyFile = '{keyPath}': {keyPath} does not open the mesh CA in table mesh_ca of postgresql://", stderr, StringComparison.Ordinal);

        await using var check = new NpgsqlConnection(connectionString);
        await check.OpenAsync();
        await using var rows = new NpgsqlCommand("SELECT count(*) FROM mesh_ca", check);
        Assert.Equal(1L, await rows.ExecuteScalarAsync());
    }
}
