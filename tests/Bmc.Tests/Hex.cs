namespace Kldload.Bmc.Tests;

/// <summary>Hex as ipmitool -vvvvv prints it (bytes separated by spaces and line breaks).</summary>
internal static class Hex
{
    public static byte[] Bytes(string text) =>
        Convert.FromHexString(string.Concat(text.Where(Uri.IsHexDigit)));
}
