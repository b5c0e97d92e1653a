using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Kldload.Facts.Tests;

public sealed class FactsBindingTests
{
    private static readonly byte[] Nonce = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly byte[] WireGuard = [.. Enumerable.Range(100, 32).Select(i => (byte)i)];

    [Fact]
    public void Bound_FactsDigestEntersAsRawBytes_EqualsTheFormula()
    {
        using var facts = JsonDocument.Parse("{\"memory\":{\"totalGiB\":1.5},\"schema\":1}");
        var digest = FactsBinding.Digest(facts.RootElement);
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes("{\"memory\":{\"totalGiB\":1.5},\"schema\":1}")), digest);
        Assert.Equal(SHA256.HashData([.. Nonce, .. WireGuard, .. digest]), FactsBinding.Bound(Nonce, WireGuard, digest));
        Assert.Equal(SHA256.HashData([.. Nonce, .. WireGuard]), FactsBinding.Unbound(Nonce, WireGuard));
    }

    [Fact]
    public void Digest_MemberOrderAndSpacing_DoNotMatterButValuesDo()
    {
        using var a = JsonDocument.Parse("{\"schema\":1,\"memory\":{\"totalGiB\":1.50}}");
        using var b = JsonDocument.Parse("{ \"memory\" : { \"totalGiB\" : 1.5 }, \"schema\" : 1 }");
        using var c = JsonDocument.Parse("{\"schema\":1,\"memory\":{\"totalGiB\":1.4}}");
        Assert.Equal(FactsBinding.Digest(a.RootElement), FactsBinding.Digest(b.RootElement));
        Assert.NotEqual(FactsBinding.Digest(a.RootElement), FactsBinding.Digest(c.RootElement));
    }

    [Fact]
    public void CheckAndCanonicalize_TooLargeOrTooLong_RefusedWithTheLimitNamed()
    {
        var big = "{\"x\":[" + string.Join(',', Enumerable.Range(0, 200).Select(_ => "\"" + new string('a', 400) + "\"")) + "]}";
        using var large = JsonDocument.Parse(big);
        Assert.Contains("65536", Assert.Throws<FactsRefusedException>(() => FactsLimits.CheckAndCanonicalize(large.RootElement)).Message, StringComparison.Ordinal);

        using var longList = JsonDocument.Parse("{\"disks\":[" + string.Join(',', Enumerable.Repeat("1", FactsLimits.MaxListLength + 1)) + "]}");
        Assert.Contains("facts.disks", Assert.Throws<FactsRefusedException>(() => FactsLimits.CheckAndCanonicalize(longList.RootElement)).Message, StringComparison.Ordinal);

        using var longString = JsonDocument.Parse("{\"s\":\"" + new string('b', FactsLimits.MaxStringLength + 1) + "\"}");
        Assert.Throws<FactsRefusedException>(() => FactsLimits.CheckAndCanonicalize(longString.RootElement));

        using var array = JsonDocument.Parse("[1]");
        Assert.Throws<FactsRefusedException>(() => FactsLimits.CheckAndCanonicalize(array.RootElement));
    }
}
