using System.Text.Json;

namespace Kldload.Tpm.Tests;

/// <summary>Golden vectors captured from swtpm 0.7.1 (TestData/vectors.json, TestData/files).</summary>
internal static class TestVectors
{
    private static readonly Lazy<JsonDocument> Document = new(() => JsonDocument.Parse(System.IO.File.ReadAllBytes(PathOf("vectors.json"))));

    public static string PathOf(string relative) => Path.Combine(AppContext.BaseDirectory, "TestData", relative);

    public static byte[] File(string name) => System.IO.File.ReadAllBytes(PathOf(Path.Combine("files", name)));

    public static byte[] Hex(string section, string key) => Convert.FromHexString(Document.Value.RootElement.GetProperty(section).GetProperty(key).GetString()!);

    public static (string Step, byte[] Command, byte[] Response) Log(int index)
    {
        var e = Document.Value.RootElement.GetProperty("log")[index];
        return (e.GetProperty("step").GetString()!, Convert.FromHexString(e.GetProperty("cmd").GetString()!), Convert.FromHexString(e.GetProperty("rsp").GetString()!));
    }

    public static int LogCount => Document.Value.RootElement.GetProperty("log").GetArrayLength();
}
