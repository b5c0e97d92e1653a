using System.Diagnostics;

namespace Kldload.Testing.Tpm;

/// <summary>
/// Manufactures a swtpm the way a vendor would: <c>swtpm_setup --create-ek-cert</c> with its own
/// local CA (<c>swtpm_localca</c>, in a directory of the caller's), so the EK certificates in NV chain
/// to a root only this test trusts.
/// </summary>
public static class SwtpmManufacturer
{
    /// <summary>Returns the directory holding <c>state/</c> (the TPM) and <c>ca/</c> (its CA).</summary>
    public static string Manufacture(string dir)
    {
        var state = Path.Combine(dir, "state");
        var ca = Path.Combine(dir, "ca");
        Directory.CreateDirectory(state);
        Directory.CreateDirectory(ca);
        File.WriteAllText(Path.Combine(ca, "swtpm-localca.conf"),
            $"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n");
        File.WriteAllText(Path.Combine(ca, "swtpm-localca.options"), "--platform-manufacturer kldload\n--platform-version 2.1\n--platform-model swtpm\n");
        File.WriteAllText(Path.Combine(dir, "swtpm_setup.conf"),
            $"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {ca}/swtpm-localca.conf\n" +
            $"create_certs_tool_options = {ca}/swtpm-localca.options\nactive_pcr_banks = sha256\n");
        var psi = new ProcessStartInfo("swtpm_setup")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--tpm2", "--tpmstate", state, "--config", Path.Combine(dir, "swtpm_setup.conf"), "--createek", "--ecc", "--create-ek-cert",
            "--lock-nvram", "--overwrite", "--logfile", Path.Combine(dir, "setup.log"),
        })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["TMPDIR"] = dir;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            throw new TimeoutException("swtpm_setup timed out");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"swtpm_setup failed: {stderr.Result} {File.ReadAllText(Path.Combine(dir, "setup.log"))}");
        }

        return dir;
    }

    /// <summary>A directory with the root and issuer certificates of a manufactured TPM's CA.</summary>
    public static string TrustDirectory(string manufactured)
    {
        var trust = Path.Combine(manufactured, "trust");
        Directory.CreateDirectory(trust);
        File.Copy(Path.Combine(manufactured, "ca", "swtpm-localca-rootca-cert.pem"), Path.Combine(trust, "root.pem"));
        File.Copy(Path.Combine(manufactured, "ca", "issuercert.pem"), Path.Combine(trust, "issuer.pem"));
        return trust;
    }
}
