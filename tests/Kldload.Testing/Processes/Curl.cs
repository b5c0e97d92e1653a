namespace Kldload.Testing.Processes;

/// <summary>curl(1), the client iPXE-era tooling and operators use, run against kldload (30 s per transfer).</summary>
public static class Curl
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        // Off the caller's thread, as before: tests run several transfers at once.
        var r = await Task.Run(() => ExternalTool.TryRun("curl", ["--silent", "--show-error", "--max-time", "30", .. args], timeout: TimeSpan.FromSeconds(40)));
        return (r.ExitCode, r.StdOut, r.StdErr);
    }
}
