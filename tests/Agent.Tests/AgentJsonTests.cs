using System.Text.Json;
using Kldload.Contracts;

namespace Kldload.Agent.Tests;

public class AgentJsonTests
{
    [Fact]
    public void ChallengeResponse_WithoutKeyEpoch_MeansEpochZero()
    {
        var c = JsonSerializer.Deserialize("""{"sessionId":"s","nonce":"AA==","pcrSelection":{"sha256":[0,7]}}""", AgentJsonContext.Default.ChallengeResponse)!;
        Assert.Equal(0u, c.KeyEpoch);
        Assert.Equal([0, 7], c.PcrSelection!["sha256"]);
    }

    [Fact]
    public void ChallengeResponse_WithKeyEpoch_IsRead()
    {
        var c = JsonSerializer.Deserialize("""{"sessionId":"s","nonce":"AA==","pcrSelection":null,"keyEpoch":3}""", AgentJsonContext.Default.ChallengeResponse)!;
        Assert.Equal(3u, c.KeyEpoch);
    }

    [Fact]
    public void QuoteRequest_EkCertificateAndChain_AreSentUnderTheirNames()
    {
        var r = new QuoteRequest("s", "ek", "Y2VydA==", "ak", "q", "sig", [], null, "wg", null) { EkCertificateChain = ["aW50"] };
        var json = JsonSerializer.Serialize(r, AgentJsonContext.Default.QuoteRequest);
        Assert.Contains("\"ekCertificate\":\"Y2VydA==\"", json, StringComparison.Ordinal);
        Assert.Contains("\"ekCertificateChain\":[\"aW50\"]", json, StringComparison.Ordinal);
        Assert.DoesNotContain("eventLog", json, StringComparison.Ordinal);

        var bare = JsonSerializer.Serialize(r with { EkCertificate = null, EkCertificateChain = null }, AgentJsonContext.Default.QuoteRequest);
        Assert.DoesNotContain("ekCertificate", bare, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadyRequest_BurnIn_IsReadByTheServerAsSent()
    {
        var sent = new ReadyRequest("s", new BurnInReport(false, 12.5, true, false, [new BurnInDiskReport("sda", 4096, 2)], "memory: 3 bytes wrong in 512 MiB"));
        var json = JsonSerializer.Serialize(sent, AgentJsonContext.Default.ReadyRequest);
        Assert.DoesNotContain("\"failed\"", json, StringComparison.Ordinal);

        var read = JsonSerializer.Deserialize<ReadyRequest>(json, new JsonSerializerOptions(JsonSerializerDefaults.Web))!;

        Assert.Equal("s", read.SessionId);
        var burnIn = read.BurnIn!;
        Assert.True(burnIn.Failed);
        Assert.Equal((12.5, true, false, "memory: 3 bytes wrong in 512 MiB"), (burnIn.Seconds, burnIn.CpuOk, burnIn.MemoryOk, burnIn.Detail));
        Assert.Equal(new BurnInDiskReport("sda", 4096, 2), Assert.Single(burnIn.Disks!));
        Assert.DoesNotContain("burnIn", JsonSerializer.Serialize(new ReadyRequest("s"), AgentJsonContext.Default.ReadyRequest), StringComparison.Ordinal);
    }
}
