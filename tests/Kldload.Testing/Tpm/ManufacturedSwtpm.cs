namespace Kldload.Testing.Tpm;

/// <summary>
/// A swtpm manufactured by <see cref="SwtpmManufacturer"/> (<c>swtpm_setup --createek --ecc --create-ek-cert</c>):
/// RSA EK at 0x81010001, P-384 EK at 0x81010016, both certificates in NV, running on its state in a temp
/// directory that is deleted on dispose. A class fixture for tests that need EK certificates.
/// </summary>
public sealed class ManufacturedSwtpm : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klkit-manufactured-").FullName;

    public ManufacturedSwtpm()
    {
        SwtpmManufacturer.Manufacture(_dir);
        Swtpm = SwtpmProcess.StartOn(Path.Combine(_dir, "state"));
    }

    public SwtpmProcess Swtpm { get; }

    /// <summary>The local CA that signed the EK certificates (<c>issuercert.pem</c> is its root).</summary>
    public string CaDirectory => Path.Combine(_dir, "ca");

    public void Dispose()
    {
        Swtpm.Dispose();
        Directory.Delete(_dir, true);
    }
}
