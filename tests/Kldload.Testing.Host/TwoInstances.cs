using Kldload.Provisioner.Boot;

namespace Kldload.Testing.Host;

/// <summary>
/// Two kldload hosts (<see cref="TestHost"/>, in process) on one PostgreSQL database, each with its own
/// data directory under one temp directory, both given the one key file that opens the mesh CA the
/// first of them creates in the database. Disposing stops B, then A, and deletes the directory.
/// </summary>
public sealed class TwoInstances : IAsyncDisposable
{
    private TwoInstances(string dir, string connectionString, TestHost a, TestHost b)
    {
        Dir = dir;
        ConnectionString = connectionString;
        A = a;
        B = b;
    }

    /// <summary>The temp directory holding both data directories (<c>a</c>, <c>b</c>) and the CA key file.</summary>
    public string Dir { get; }

    /// <summary>The database both instances use.</summary>
    public string ConnectionString { get; }

    public TestHost A { get; }

    public TestHost B { get; }

    /// <summary>
    /// Starts A, then B, on <paramref name="connectionString"/>. <paramref name="images"/>, when given,
    /// makes each instance its own image source; <paramref name="overrides"/> go to both.
    /// </summary>
    public static async Task<TwoInstances> StartAsync(string connectionString, string prefix, Func<IBootImageSource>? images = null, params string[] overrides)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        string[] settings = [.. overrides, "--Database:Provider=PostgreSql", $"--Database:ConnectionString={connectionString}", $"--Mesh:CaKeyFile={Path.Combine(dir, "ca.key")}"];
        TestHost? a = null;
        try
        {
            a = await TestHost.StartAsync(Path.Combine(dir, "a"), images?.Invoke(), settings);
            var b = await TestHost.StartAsync(Path.Combine(dir, "b"), images?.Invoke(), settings);
            return new TwoInstances(dir, connectionString, a, b);
        }
        catch
        {
            if (a is not null)
            {
                await a.DisposeAsync();
            }

            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await B.DisposeAsync();
        await A.DisposeAsync();
        Directory.Delete(Dir, recursive: true);
    }
}
