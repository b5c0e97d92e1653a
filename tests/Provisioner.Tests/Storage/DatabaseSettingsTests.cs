using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Storage;

public sealed class DatabaseSettingsTests : IDisposable
{
    private readonly SettingsUnderTest _settings = new();

    public void Dispose() => _settings.Dispose();

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides) => _settings.Load(out errors, overrides);

    [Fact]
    public void Load_Default_IsLiteDbWithNoConnectionString()
    {
        var config = Load(out var errors);
        Assert.Empty(errors);
        Assert.Equal(DatabaseProvider.LiteDb, config.Database.Provider);
        Assert.Null(config.Database.ConnectionString);
    }

    [Fact]
    public void Load_PostgreSqlInline_Binds()
    {
        var config = Load(out var errors, "--Database:Provider=PostgreSql", "--Database:ConnectionString=Host=db1;Database=kldload;Username=k");
        Assert.Empty(errors);
        Assert.Equal(DatabaseProvider.PostgreSql, config.Database.Provider);
        Assert.Equal("Host=db1;Database=kldload;Username=k", config.Database.ConnectionString);
    }

    [Fact]
    public void Load_PostgreSqlFromFile_ReadsTheFirstLine()
    {
        Directory.CreateDirectory(_settings.DataDir);
        var file = Path.Combine(_settings.DataDir, "db.conn");
        File.WriteAllText(file, "Host=/run/postgresql;Database=kldload;Username=kldload;Password=s3cret\n# comment\n");
        var config = Load(out var errors, "--Database:Provider=PostgreSql", $"--Database:ConnectionStringFile={file}");
        Assert.Empty(errors);
        Assert.Equal("Host=/run/postgresql;Database=kldload;Username=kldload;Password=s3cret", config.Database.ConnectionString);
        Assert.Equal("Database:ConnectionStringFile", config.Database.ConnectionStringKey);
    }

    [Fact]
    public void Load_BadDatabaseSettings_ListsEveryProblemAndNeverEchoesThePassword()
    {
        Load(out var errors, "--Database:Provider=Postgres");
        Assert.Equal("Database:Provider = 'Postgres': allowed: LiteDb, PostgreSql", Assert.Single(errors).ToString());

        Load(out errors, "--Database:Provider=PostgreSql");
        Assert.StartsWith("Database:ConnectionString: required with Database:Provider=PostgreSql", Assert.Single(errors).ToString(), StringComparison.Ordinal);

        Load(out errors, "--Database:Provider=PostgreSql", "--Database:ConnectionString=Database=kldload;Password=hunter2");
        var noHost = Assert.Single(errors).ToString();
        Assert.Contains("names no Host", noHost, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", noHost, StringComparison.Ordinal);

        Load(out errors, "--Database:Provider=PostgreSql", "--Database:ConnectionString=Host=a;Database=b", "--Database:ConnectionStringFile=/nonexistent/x");
        Assert.Contains("not both", Assert.Single(errors).Problem, StringComparison.Ordinal);

        Load(out errors, "--Database:Provider=PostgreSql", "--Database:ConnectionStringFile=/nonexistent/x");
        Assert.Equal("Database:ConnectionStringFile", Assert.Single(errors).Key);

        Load(out errors, "--Database:ConnectionString=Host=a;Database=b", "--Database:Colour=blue");
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Key == "Database:ConnectionString" && e.Problem.Contains("only used with Database:Provider=PostgreSql", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Key == "Database:Colour");
    }
}
