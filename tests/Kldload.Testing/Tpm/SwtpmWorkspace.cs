namespace Kldload.Testing.Tpm;

/// <summary>An empty swtpm and a temporary directory for the files a test hands to tools, both removed on dispose.</summary>
public sealed class SwtpmWorkspace : IDisposable
{
    public SwtpmWorkspace(string prefix)
    {
        Swtpm = SwtpmProcess.StartEmpty();
        Directory = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public SwtpmProcess Swtpm { get; }

    public string Directory { get; }

    public void Dispose()
    {
        Swtpm.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
