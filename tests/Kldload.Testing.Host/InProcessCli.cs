using System.Security.Cryptography;
using Kldload.ImageStore;
using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Hosting;

namespace Kldload.Testing.Host;

/// <summary>kldload's command line run in this process (the real host behind <c>serve</c>), its output captured.</summary>
public static class InProcessCli
{
    /// <summary>Runs <c>kldload <paramref name="args"/></c>; returns the exit code and what it wrote to standard output and error.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await KldloadCli.RunAsync(args, KldloadHost.RunAsync, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>Images put into a running <see cref="TestHost"/>'s store.</summary>
public static class HostImages
{
    /// <summary>
    /// Imports <c>live</c> <paramref name="version"/> (a kernel and an initrd of random bytes, <c>console=ttyS0</c>)
    /// into <paramref name="host"/>'s image store and promotes it to the channel <c>stable</c>.
    /// </summary>
    public static async Task ImportLiveAsync(TestHost host, string version)
    {
        var src = Directory.CreateTempSubdirectory("kldload-test-img-").FullName;
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(src, "kernel"), RandomNumberGenerator.GetBytes(100_000));
            await File.WriteAllBytesAsync(Path.Combine(src, "initrd"), RandomNumberGenerator.GetBytes(150_000));
            var store = host.Service<LiveImageStore>();
            await store.ImportDirectoryAsync(src, new DirectoryImportOptions { Name = "live", Version = version, CommandLine = "console=ttyS0" }, "test");
            store.Catalog.Promote("stable", new ImageKey("live", version), "test");
        }
        finally
        {
            Directory.Delete(src, recursive: true);
        }
    }
}
