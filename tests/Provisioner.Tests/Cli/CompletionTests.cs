using Kldload.Provisioner.Cli;

namespace Kldload.Provisioner.Tests.Cli;

/// <summary><c>kldload completion bash|zsh|fish</c>: scripts generated from the command tree, run by the real shell.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-completion-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("kldload no", "nodes")]
    [InlineData("kldload nodes li", "list")]
    [InlineData("kldload leases rel", "release release6")]
    [InlineData("kldload nodes --json bmc s", "set show")]
    [InlineData("kldload nodes list --col", "--columns")]
    public async Task Bash_PartialWord_CompletesFromTheCommandTree(string line, string expected)
    {
        var (code, script, stderr) = await KldloadProcess.RunAsync(_dir, "completion", "bash");
        Assert.True(code == 0, stderr);
        var file = Path.Combine(_dir, "kldload.bash");
        await File.WriteAllTextAsync(file, script);

        var words = line.Split(' ');
        var reply = ExternalTool.Run("bash", ["-c", $"source {file}; COMP_WORDS=({line}); COMP_CWORD={words.Length - 1}; _kldload; echo \"${{COMPREPLY[*]}}\""]);
        Assert.Equal(expected, reply.Trim());
    }

    [Fact]
    public void Walk_EveryCommand_WithItsRecursiveOptions()
    {
        var paths = CompletionCommand.Walk(KldloadCli.BuildRootCommand((_, _) => Task.FromResult(0))).ToDictionary(p => p.Path);
        Assert.Contains(paths["kldload"].Subcommands, c => c.Name == "completion");
        Assert.Contains(paths["kldload nodes bmc show"].Options, o => o.Name == "--server"); // from nodes, recursive
        Assert.Contains(paths["kldload leases show6"].Options, o => o.Name == "--json");
        Assert.DoesNotContain(paths["kldload image list"].Options, o => o.Name == "--server");
    }

    [Theory]
    [InlineData("zsh", "bashcompinit")]
    [InlineData("fish", "complete -c kldload -n 'test (__kldload_path) = \\'kldload nodes\\'' -f -a 'list'")]
    public async Task OtherShells_ScriptNamesTheTree(string shell, string expected)
    {
        var (code, script, stderr) = await KldloadProcess.RunAsync(_dir, "completion", shell);
        Assert.True(code == 0, stderr);
        Assert.Contains(expected, script, StringComparison.Ordinal);
    }
}
