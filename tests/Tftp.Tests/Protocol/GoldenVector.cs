namespace Kldload.Tftp.Tests.Protocol;

/// <summary>Loads a hex golden vector from TestData/Packets (lines starting with # are comments).</summary>
internal static class GoldenVector
{
    public static byte[] Load(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestData", "Packets", name + ".hex");
        var hex = string.Concat(File.ReadAllLines(path).Where(l => !l.StartsWith('#')).Select(l => l.Replace(" ", string.Empty, StringComparison.Ordinal)));
        return Convert.FromHexString(hex);
    }
}
