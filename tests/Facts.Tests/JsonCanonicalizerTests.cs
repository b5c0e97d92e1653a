using System.Globalization;
using System.Text;
using Kldload.Facts.Canonical;

namespace Kldload.Facts.Tests;

/// <summary>RFC 8785's own examples: section 3.2.2 (the whole input/output pair), 3.2.3 (sorting) and appendix B (numbers).</summary>
public sealed class JsonCanonicalizerTests
{
    private static string Canonical(string json) => Encoding.UTF8.GetString(JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Canonicalize_Rfc8785Section322Example_MatchesTheRfcOutput()
    {
        const string input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50,
                          2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        const string expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        Assert.Equal(expected, Canonical(input));
    }

    [Fact]
    public void Canonicalize_Rfc8785Section323Sorting_OrdersByUtf16CodeUnits()
    {
        const string input = """
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """;
        var names = new[] { "\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33" };
        var output = Canonical(input);
        var positions = names.Select(n => output.IndexOf(n == "\r" ? "\"\\r\"" : $"\"{n}\"", StringComparison.Ordinal)).ToList();
        Assert.All(positions, p => Assert.True(p >= 0));
        Assert.Equal(positions.Order().ToList(), positions);
    }

    // RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
    [Theory]
    [InlineData("0000000000000000", "0")]
    [InlineData("8000000000000000", "0")]
    [InlineData("0000000000000001", "5e-324")]
    [InlineData("8000000000000001", "-5e-324")]
    [InlineData("7fefffffffffffff", "1.7976931348623157e+308")]
    [InlineData("ffefffffffffffff", "-1.7976931348623157e+308")]
    [InlineData("4340000000000000", "9007199254740992")]
    [InlineData("c340000000000000", "-9007199254740992")]
    [InlineData("4430000000000000", "295147905179352830000")]
    [InlineData("44b52d02c7e14af5", "9.999999999999997e+22")]
    [InlineData("44b52d02c7e14af6", "1e+23")]
    [InlineData("44b52d02c7e14af7", "1.0000000000000001e+23")]
    [InlineData("444b1ae4d6e2ef4e", "999999999999999700000")]
    [InlineData("444b1ae4d6e2ef4f", "999999999999999900000")]
    [InlineData("444b1ae4d6e2ef50", "1e+21")]
    [InlineData("3eb0c6f7a0b5ed8c", "9.999999999999997e-7")]
    [InlineData("3eb0c6f7a0b5ed8d", "0.000001")]
    [InlineData("41b3de4355555553", "333333333.3333332")]
    [InlineData("41b3de4355555554", "333333333.33333325")]
    [InlineData("41b3de4355555555", "333333333.3333333")]
    [InlineData("41b3de4355555556", "333333333.3333334")]
    [InlineData("41b3de4355555557", "333333333.33333343")]
    [InlineData("becbf647612f3696", "-0.0000033333333333333333")]
    [InlineData("43143ff3c1cb0959", "1424953923781206.2")]
    public void FormatNumber_Rfc8785AppendixB_MatchesEcmaScript(string bits, string expected)
    {
        var value = BitConverter.Int64BitsToDouble(long.Parse(bits, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        Assert.Equal(expected, JsonCanonicalizer.FormatNumber(value));
        Assert.Equal(value == 0 ? 0 : value, double.Parse(expected, CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}", "duplicate")]
    [InlineData("[1e400]", "finite")]
    [InlineData("\"\\ud800\"", "surrogate")]
    [InlineData("{\"a\":", "not JSON")]
    public void Canonicalize_NotIJson_Refused(string json, string why)
    {
        var e = Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonicalize_TooDeep_Refused()
    {
        var json = new string('[', JsonCanonicalizer.MaxDepth + 1) + new string(']', JsonCanonicalizer.MaxDepth + 1);
        Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(Encoding.UTF8.GetBytes(json)));
        var ok = new string('[', JsonCanonicalizer.MaxDepth) + new string(']', JsonCanonicalizer.MaxDepth);
        Assert.Equal(ok, Canonical(ok));
    }

    [Fact]
    public void Canonicalize_CanonicalOutput_IsAFixedPoint()
    {
        var once = Canonical("{ \"z\": [ 1.50, { \"b\": \"\\u0001\\u007f\", \"a\": -0 } ], \"y\": 1E2 }");
        Assert.Equal("{\"y\":100,\"z\":[1.5,{\"a\":0,\"b\":\"\\u0001\u007f\"}]}", once);
        Assert.Equal(once, Canonical(once));
    }
}
