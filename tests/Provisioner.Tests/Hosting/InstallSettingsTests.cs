using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Tests.Hosting;

public sealed class InstallSettingsTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), $"kldload-install-settings-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dataDir))
        {
            Directory.Delete(_dataDir, recursive: true);
        }
    }

    private KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides) =>
        KldloadConfiguration.Load(KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={_dataDir}", .. overrides], Path.Combine(AppContext.BaseDirectory, "appsettings.json")), out errors);

    [Fact]
    public void Load_ShippedAppSettings_KeepsThreeEnvironments()
    {
        var config = Load(out var errors);

        Assert.Empty(errors);
        Assert.Equal(3, config.Install.KeepEnvironments);
        Assert.Equal(1, Load(out _, "--Install:KeepEnvironments=1").Install.KeepEnvironments);
    }

    [Fact]
    public void Load_KeepEnvironmentsBelowOneOrUnknownKey_EveryErrorNamed()
    {
        Load(out var errors, "--Install:KeepEnvironments=0", "--Install:KeepEnviroments=4");

        Assert.Contains(errors, e => e.Key == "Install:KeepEnvironments");
        Assert.Contains(errors, e => e.Key == "Install:KeepEnviroments");
    }
}
