using System.Security.Cryptography;
using System.Text.Json;
using Kldload.Agent.Commissioning;
using Kldload.Facts;
using Kldload.Testing;

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
        Assert.Equal(Convert.ToHexStringLower(agent), Shell("nonce.bin", "wg.raw", "facts.json"));
        Assert.Equal(Convert.ToHexStringLower(FactsBinding.Unbound(nonce, wg)), Shell("nonce.bin", "wg.raw"));
    }

    private string Shell(params string[] args)
    {
        var r = ExternalTool.TryRun("bash", [Path.Combine(RepositoryPaths.Root, "tools", "attest-client.sh"), "--qualifying-data", .. args],
            timeout: TimeSpan.FromMinutes(2), workingDirectory: _dir);
        Assert.True(r.ExitCode == 0, r.StdErr);
        return r.StdOut.Trim();
    }
}
