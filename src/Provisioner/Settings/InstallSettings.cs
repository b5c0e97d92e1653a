namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Install</c> section: installs to disk (issue 20, docs/install.md).</summary>
public sealed record InstallSettings
{
    /// <summary>
    /// <c>Install:KeepEnvironments</c>: boot environments an installed node keeps (default 3, at least
    /// 1: the one it runs); a reimage that would keep more destroys the oldest first.
    /// </summary>
    public int KeepEnvironments { get; init; } = 3;

    internal static InstallSettings Read(SettingsReader r) => new()
    {
        KeepEnvironments = r.Int("Install:KeepEnvironments", 3, 1, 100),
    };
}
