using System.Reflection;

namespace Kldload.Provisioner;

/// <summary>Version and source commit of this build (the SDK appends the commit to the informational version).</summary>
public static class BuildInfo
{
    private static readonly string Informational =
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>Semantic version, for example <c>0.1.0</c>.</summary>
    public static string Version => Informational.Split('+')[0];

    /// <summary>Git commit the binary was built from, or <c>unknown</c>.</summary>
    public static string Commit => Informational.Contains('+', StringComparison.Ordinal) ? Informational.Split('+')[1] : "unknown";
}
