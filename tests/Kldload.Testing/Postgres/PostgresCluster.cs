using System.Diagnostics;
using Kldload.Testing.Network;
using Kldload.Testing.Processes;
using Npgsql;

namespace Kldload.Testing.Postgres;

/// <summary>
/// A private PostgreSQL cluster (Debian's <c>postgresql</c> package: initdb and pg_ctl) in its own
/// directory under /tmp, listening on 127.0.0.1 at a free port with its own socket directory, run as
/// the <c>postgres</c> user when the tests run as root. Stopped by the postmaster's PID. Durability
/// is off (fsync=off): the tests check behaviour, not crash safety of PostgreSQL itself.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    private static int _databases;

    private readonly string _directory;
    private readonly int _pid;

    private PostgresCluster(string directory, int port, int pid)
    {
        _directory = directory;
        Port = port;
        _pid = pid;
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>Where PostgreSQL's programs are (the newest major version installed).</summary>
    public static string BinDirectory
    {
        get
        {
            var root = "/usr/lib/postgresql";
            var newest = Directory.Exists(root)
                ? Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, "bin", "initdb")))
                    .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).FirstOrDefault()
                : null;
            return newest is null
                ? throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/install-deps.sh")
                : Path.Combine(newest, "bin");
        }
    }

    /// <summary>Creates and starts a cluster. Throws with initdb's or the server's own words when it cannot.</summary>
    public static PostgresCluster Start()
    {
        var bin = BinDirectory;
        RemoveLeftovers();
        var directory = Path.Combine(Path.GetTempPath(), $"kldload-pg-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var data = Path.Combine(directory, "data");
        var sockets = Path.Combine(directory, "sock");
        Directory.CreateDirectory(sockets);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            ExternalTool.Run("chown", ["-R", "postgres:postgres", directory]);
        }

        try
        {
            AsOwner(asRoot, Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"], TimeSpan.FromSeconds(120));
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort.Tcp();
                var options = $"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} -c fsync=off -c full_page_writes=off -c max_connections=200";
                var started = AsOwnerTry(asRoot, Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(directory, "server.log"), "-o", options, "-w", "-t", "60", "start"], TimeSpan.FromSeconds(90));
                if (started.ExitCode == 0)
                {
                    var pid = int.Parse(File.ReadLines(Path.Combine(data, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);
                    return new PostgresCluster(directory, port, pid);
                }

                if (attempt == 3)
                {
                    var log = File.Exists(Path.Combine(directory, "server.log")) ? File.ReadAllText(Path.Combine(directory, "server.log")) : string.Empty;
                    throw new InvalidOperationException($"pg_ctl start exited {started.ExitCode}: {started.StdErr.Trim()} {log}");
                }
            }
        }
        catch
        {
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// The directory of the cluster's Unix socket. A socket is a file, not a network endpoint, so a
    /// process inside a network namespace reaches the cluster through it (127.0.0.1 there is its own).
    /// </summary>
    public string SocketDirectory => Path.Combine(_directory, "sock");

    /// <summary>A connection string to <paramref name="database"/> as the cluster's superuser.</summary>
    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database, Pooling = true }.ConnectionString;

    /// <summary>Creates a fresh, empty database with a unique name and returns its connection string.</summary>
    public string CreateDatabase(string prefix = "t")
    {
        var name = $"{prefix}_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..40].ToLowerInvariant();
        using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            command.ExecuteNonQuery();
        }

        return ConnectionString(name);
    }

    /// <summary>
    /// Immediate shutdown of the postmaster by its PID (SIGQUIT: the test host gives exit handlers little
    /// time, and nothing here needs a checkpoint), then the directory is removed.
    /// </summary>
    public void Dispose()
    {
        try
        {
            using var postmaster = Process.GetProcessById(_pid);
            ExternalTool.TryRun("kill", ["-QUIT", _pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!postmaster.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                postmaster.Kill();
                postmaster.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (ArgumentException)
        {
            // already gone
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Removes the directories of clusters whose test process has gone (a host killed before its exit
    /// handler finished): only when the process named in the directory's name is gone. A postmaster
    /// still running there was started by that process for its tests: it is stopped first, by PID.
    /// </summary>
    private static void RemoveLeftovers()
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), "kldload-pg-*"))
        {
            var parts = Path.GetFileName(directory).Split('-');
            if (parts.Length < 4 || !int.TryParse(parts[2], out var owner) || Alive(owner))
            {
                continue;
            }

            var pidFile = Path.Combine(directory, "data", "postmaster.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var postmaster) && Alive(postmaster))
            {
                new PostgresCluster(directory, 0, postmaster).Dispose();
                continue;
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static bool Alive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void AsOwner(bool asRoot, string file, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var r = AsOwnerTry(asRoot, file, args, timeout);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited {r.ExitCode}: {r.StdErr.Trim()} {r.StdOut.Trim()}");
        }
    }

    private static ExternalTool.Result AsOwnerTry(bool asRoot, string file, IReadOnlyList<string> args, TimeSpan timeout) =>
        asRoot
            ? ExternalTool.TryRun("runuser", ["-u", "postgres", "--", file, .. args], timeout: timeout)
            : ExternalTool.TryRun(file, args, timeout: timeout);
}

/// <summary>
/// One <see cref="PostgresCluster"/> for the whole test process, started on first use and stopped
/// when the process exits; each test takes a database of its own from it. Use as
/// <c>IClassFixture&lt;PostgresFixture&gt;</c>.
/// </summary>
public sealed class PostgresFixture
{
    private static readonly Lazy<PostgresCluster> Shared = new(() =>
    {
        var cluster = PostgresCluster.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Dispose();
        return cluster;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The process's cluster.</summary>
    public PostgresCluster Cluster => Shared.Value;

    /// <summary>A fresh, empty database; returns its connection string.</summary>
    public string CreateDatabase() => Cluster.CreateDatabase();
}
