namespace Kldload.Agent;

/// <summary>
/// The kldload parameters on the node's kernel command line (<c>/proc/cmdline</c>), written there by
/// the provisioner's iPXE script: <c>kldload.server=URL kldload.token=TOKEN</c>, and
/// <c>kldload.repin=1</c> on the one boot after an operator re-pinned the node (<c>kldload nodes replace</c>),
/// and <c>kldload.burnin=SECONDS</c> when the node's profile asks for a burn-in before Ready.
/// </summary>
public sealed record KernelCommandLine(Uri? ServerUrl, string? BootToken, IReadOnlyDictionary<string, string> Parameters)
{
    /// <summary>The re-pin flag: the agent may replace the mesh CA pinned in the TPM with the one offered.</summary>
    public const string RepinParameter = "kldload.repin";

    /// <summary>True when the command line carries <c>kldload.repin=1</c> (exactly <c>1</c>: anything else is no re-pin).</summary>
    public bool Repin => Parameters.TryGetValue(RepinParameter, out var v) && v == "1";

    /// <summary>The burn-in parameter: run the burn-in for at most this many seconds before ready.</summary>
    public const string BurnInParameter = "kldload.burnin";

    /// <summary>Longest burn-in the agent accepts (24 h), as the server's profile validation.</summary>
    public const int MaxBurnInSeconds = 24 * 60 * 60;

    /// <summary>
    /// The burn-in seconds of <c>kldload.burnin=N</c>: N a whole number from 1 to <see cref="MaxBurnInSeconds"/>;
    /// null when absent or anything else.
    /// </summary>
    public int? BurnInSeconds =>
        Parameters.TryGetValue(BurnInParameter, out var v)
        && int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
        && n is >= 1 and <= MaxBurnInSeconds ? n : null;

    /// <summary>Parses a kernel command line; unknown words are kept in <see cref="Parameters"/>.</summary>
    public static KernelCommandLine Parse(string cmdline)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in cmdline.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                parameters[word] = string.Empty;
            }
            else
            {
                parameters[word[..eq]] = word[(eq + 1)..];
            }
        }

        Uri? server = null;
        if (parameters.TryGetValue("kldload.server", out var s) && Uri.TryCreate(s, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            server = uri;
        }

        parameters.TryGetValue("kldload.token", out var token);
        return new KernelCommandLine(server, string.IsNullOrEmpty(token) ? null : token, parameters);
    }
}
