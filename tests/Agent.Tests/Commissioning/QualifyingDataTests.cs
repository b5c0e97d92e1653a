using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Agent.Commissioning;
using Kldload.Facts;

namespace Kldload.Agent.Tests.Commissioning;

/// <summary>The reference shell client (tools/attest-client.sh, jq and openssl) and the agent bind the same facts into the same qualifying data.</summary>
public sealed class QualifyingDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klagent-qd-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("qemu")]
    [InlineData("this-machine")]
    public async Task ShellClientAndAgent_SameFacts_SameQualifyingData(string tree)
    {
        var facts = new FactsCollector(FactsCollectorTests.Tree(tree)).Collect(new TpmFacts("IBM", "8217.4131.22.13377", "SW   TPM"));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var wg = RandomNumberGenerator.GetBytes(32);

        // The shell client gets the facts as the agent's serializer writes them (not canonical) and canonicalizes with jq.
        var factsFile = Path.Combine(_dir, "facts.json");
        await File.WriteAllBytesAsync(factsFile, JsonSerializer.SerializeToUtf8Bytes(facts, FactsJsonContext.Default.NodeFacts));
        await File.WriteAllBytesAsync(Path.Combine(_dir, "nonce.bin"), nonce);
        await File.WriteAllBytesAsync(Path.Combine(_dir, "wg.raw"), wg);

        var agent = FactsBinding.Bound(nonce, wg, FactsBinding.DigestOfCanonical(FactsDocument.Canonical(facts)));
        Assert.Equal(Convert.ToHexStringLower(agent), await ShellAsync("nonce.bin", "wg.raw", "facts.json"));
        Assert.Equal(Convert.ToHexStringLower(FactsBinding.Unbound(nonce, wg)), await ShellAsync("nonce.bin", "wg.raw"));
    }

    private async Task<string> ShellAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        psi.ArgumentList.Add(Path.Combine(RepositoryRoot(), "tools", "attest-client.sh"));
        psi.ArgumentList.Add("--qualifying-data");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, await stderr);
        return (await stdout).Trim();
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kldload.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
