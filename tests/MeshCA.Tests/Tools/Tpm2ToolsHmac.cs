namespace Kldload.MeshCA.Tests.Tools;

/// <summary>
/// Test-only <see cref="ITpmHmac"/> over tpm2-tools: creates the keyedHash primary K under the owner
/// hierarchy from a fixed template (HMAC-SHA256, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign,
/// empty unique), HMACs the message with <c>tpm2_hmac</c>, and flushes K again.
/// </summary>
internal sealed class Tpm2ToolsHmac(SwtpmProcess tpm) : ITpmHmac
{
    public byte[] Hmac(ReadOnlySpan<byte> message)
    {
        var dir = Directory.CreateTempSubdirectory("klmesh-hmac-").FullName;
        try
        {
            var ctx = Path.Combine(dir, "k.ctx");
            var input = Path.Combine(dir, "msg.bin");
            var output = Path.Combine(dir, "hmac.bin");
            File.WriteAllBytes(input, message.ToArray());
            tpm.Tool("tpm2_createprimary", "-C", "o", "-G", "hmac", "-g", "sha256",
                "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-c", ctx);
            tpm.Tool("tpm2_hmac", "-c", ctx, "-g", "sha256", "-o", output, input);
            tpm.Tool("tpm2_flushcontext", "-t");
            return File.ReadAllBytes(output);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
