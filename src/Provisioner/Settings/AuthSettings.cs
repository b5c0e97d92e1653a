namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Auth</c> section: how operators authenticate to the admin API.</summary>
public sealed record AuthSettings
{
    /// <summary><c>Auth:AdminTokenFile</c>: bearer token file; generated with mode 0600 on first start. Default <c>{DataDir}/admin.token</c>.</summary>
    public required string AdminTokenFile { get; init; }

    internal static AuthSettings Read(SettingsReader r, KldloadSettings kldload)
    {
        var file = r.OptionalString("Auth:AdminTokenFile");
        return new AuthSettings { AdminTokenFile = Path.GetFullPath(file ?? Path.Combine(kldload.DataDir, "admin.token")) };
    }
}
