using Kldload.Provisioner.Settings;

namespace Kldload.Testing.Host;

/// <summary>
/// kldload's settings read the way the host reads them at start (a settings file, then the command
/// line), with a temp data directory of their own that is deleted on dispose.
/// </summary>
public sealed class SettingsUnderTest : IDisposable
{
    /// <summary>The data directory every load is given (<c>--Kldload:DataDir</c>).</summary>
    public string DataDir { get; } = Directory.CreateTempSubdirectory("kldload-settings-").FullName;

    /// <summary>The shipped <c>appsettings.json</c>, copied next to the test binary.</summary>
    public static string Shipped => Path.Combine(AppContext.BaseDirectory, "appsettings.json");

    /// <summary>The shipped settings with <paramref name="overrides"/> (command-line form) on top; <paramref name="errors"/> lists every problem.</summary>
    public KldloadConfiguration Load(out IReadOnlyList<SettingError> errors, params string[] overrides)
    {
        var root = KldloadConfiguration.BuildRoot([$"--Kldload:DataDir={DataDir}", .. overrides], Shipped);
        return KldloadConfiguration.Load(root, out errors);
    }

    public void Dispose()
    {
        if (Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }
}
