namespace Kldload.Provisioner.Settings;

/// <summary>Log output format: human-readable lines or compact JSON (one event per line).</summary>
public enum LogFormat
{
    Text,
    Json,
}

/// <summary>Log level names as Serilog spells them.</summary>
public enum LogLevelSetting
{
    Verbose,
    Debug,
    Information,
    Warning,
    Error,
    Fatal,
}

/// <summary>The <c>Kldload</c> section: where state lives, how nodes reach us, how we log.</summary>
public sealed record KldloadSettings
{
    /// <summary><c>Kldload:DataDir</c>: database, images, mesh CA and tokens. Default <c>./var</c>.</summary>
    public required string DataDir { get; init; }

    /// <summary><c>Kldload:ServerUrl</c>: the URL nodes use; null = first listen URL, made concrete.</summary>
    public Uri? ServerUrl { get; init; }

    /// <summary><c>Kldload:LogFormat</c>: Text (default) or Json.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary><c>Kldload:LogLevel</c>: minimum level logged. Default Information.</summary>
    public LogLevelSetting LogLevel { get; init; } = LogLevelSetting.Information;

    /// <summary><c>Kldload:ShutdownTimeout</c>: how long in-flight work may run after SIGTERM.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Full path of the LiteDB file.</summary>
    public string DatabasePath => Path.Combine(DataDir, "kldload.db");

    internal static KldloadSettings Read(SettingsReader r)
    {
        var dataDir = r.String("Kldload:DataDir", "./var");
        return new KldloadSettings
        {
            DataDir = Path.GetFullPath(dataDir),
            ServerUrl = r.OptionalHttpUrl("Kldload:ServerUrl"),
            LogFormat = r.Enum("Kldload:LogFormat", LogFormat.Text),
            LogLevel = r.Enum("Kldload:LogLevel", LogLevelSetting.Information),
            ShutdownTimeout = r.Duration("Kldload:ShutdownTimeout", TimeSpan.FromSeconds(3), TimeSpan.Zero, TimeSpan.FromSeconds(30)),
        };
    }
}
