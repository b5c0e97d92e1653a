using System.Net;
using System.Security.Cryptography;
using Kldload.Tftp.Files;
using Kldload.Tftp.Server;
using Kldload.Tftp.Tests.Files;
using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Tests.Peer;

/// <summary>
/// A kldload TFTP listener on 127.0.0.1 with an ephemeral port, serving a temporary root of test
/// files, for the real clients to download from.
/// </summary>
public sealed class PeerServerFixture : IAsyncLifetime
{
    public const long MiB = 1024 * 1024;

    private readonly TempDirectory _root = new();
    private readonly TempDirectory _outside = new();
    private readonly Dictionary<string, string> _hashes = [];
    private TftpUdpListener? _listener;

    public static readonly (string Name, long Size)[] Files =
    [
        ("empty.bin", 0),
        ("one.bin", 1),
        ("block.bin", 512),
        ("odd.bin", 100_003),
        ("odd-large.bin", (3 * 8192) + 4097),
        ("f40m.bin", 40 * MiB),
        ("f30m.bin", 30 * MiB),
        ("f10m.bin", 10 * MiB),
    ];

    public string Root => _root.Path;

    public string Work => _outside.Path;

    public int Port => _listener!.LocalEndPoint.Port;

    public string Hash(string name) => _hashes[name];

    public Task InitializeAsync()
    {
        var random = new Random(1350);
        foreach (var (name, size) in Files)
        {
            using var stream = File.Create(Path.Combine(Root, name));
            var buffer = new byte[1 << 20];
            for (long left = size; left > 0;)
            {
                var n = (int)Math.Min(left, buffer.Length);
                random.NextBytes(buffer.AsSpan(0, n));
                stream.Write(buffer, 0, n);
                left -= n;
            }
        }

        foreach (var (name, _) in Files)
        {
            using var stream = File.OpenRead(Path.Combine(Root, name));
            _hashes[name] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        File.WriteAllText(Path.Combine(Work, "secret"), "secret");
        var options = new TftpServerOptions { MaxBlockSize = 65464, MaxWindowSize = 16, MaxSessions = 200 };
        var server = new TftpServer(options, new RootDirectoryFileSource(Root), TimeProvider.System);
        _listener = new TftpUdpListener(new IPEndPoint(IPAddress.Loopback, 0), server);
        _listener.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_listener is not null)
        {
            await _listener.DisposeAsync();
        }

        _root.Dispose();
        _outside.Dispose();
    }

    public static string FileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

[CollectionDefinition("TftpPeer")]
public sealed class PeerCollection : ICollectionFixture<PeerServerFixture>;
