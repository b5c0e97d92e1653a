using System.Globalization;

namespace Kldload.Tftp.Tests.Peer;

/// <summary>The TFTP clients from Debian's packages against kldload's listener on loopback.</summary>
[Collection("TftpPeer")]
[Trait("Tier", "Peer")]
public sealed class PeerClientTests(PeerServerFixture server)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    public static TheoryData<string, string> SmallFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var client in new[] { "tftp-hpa", "atftp", "atftp-window", "curl", "busybox" })
        {
            foreach (var file in new[] { "empty.bin", "one.bin", "block.bin", "odd.bin", "odd-large.bin" })
            {
                data.Add(client, file);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SmallFiles))]
    public async Task Get_SmallAndOddSizes_ByteIdentical(string client, string file)
    {
        // Large blocks for the clients that can ask: odd sizes end in a partial large block.
        var local = Local(client, file);
        var result = await Get(client, file, local, blockSize: 8192, windowSize: 4);
        Assert.True(result.ExitCode == 0 && !result.TimedOut, $"{client}: exit {result.ExitCode}: {result.Output}");
        Assert.Equal(server.Hash(file), PeerServerFixture.FileHash(local));
    }

    [Theory]
    [InlineData("tftp-hpa")]
    [InlineData("curl")]
    [InlineData("busybox")]
    [InlineData("atftp")]
    public async Task Get_40MiBAt512_RollsOverByteIdentical(string client)
    {
        // 40 MiB / 512 = 81920 blocks: block numbers pass 65535 and continue at 0.
        var local = Local(client, "f40m.bin");
        var result = await Get(client, "f40m.bin", local, blockSize: 512, windowSize: 1);
        Assert.True(result.ExitCode == 0 && !result.TimedOut, $"{client}: exit {result.ExitCode}: {result.Output}");
        Assert.Equal(server.Hash("f40m.bin"), PeerServerFixture.FileHash(local));
        File.Delete(local);
    }

    [Theory]
    [InlineData("tftp-hpa")]
    [InlineData("atftp")]
    [InlineData("curl")]
    [InlineData("busybox")]
    public async Task Get_MissingFile_CleanError(string client)
    {
        var local = Local(client, "missing");
        var result = await Get(client, "no-such-file.efi", local, blockSize: 1468, windowSize: 1);
        Assert.False(result.TimedOut);
        if (client == "curl")
        {
            // curl's message is overwritten by an unrelated getpeername() complaint; its exit code
            // says which ERROR came back: 68 = CURLE_TFTP_NOTFOUND.
            Assert.Equal(68, result.ExitCode);
            return;
        }

        AssertFailed(client, result);
        Assert.Contains("not found", result.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("tftp-hpa", "../secret")]
    [InlineData("atftp", "../secret")]
    [InlineData("atftp", "//etc/passwd")]
    [InlineData("busybox", "sub/../../secret")]
    [InlineData("tftp-hpa", "..\\secret")]
    [InlineData("curl", "%2e%2e/secret")]
    public async Task Get_Traversal_Refused(string client, string name)
    {
        var local = Local(client, "traversal");
        var result = await Get(client, name, local, blockSize: 512, windowSize: 1);
        Assert.False(result.TimedOut);
        if (client == "curl")
        {
            // 69 = CURLE_TFTP_PERM: the server answered ERROR 2 (access violation).
            Assert.Equal(69, result.ExitCode);
        }
        else
        {
            AssertFailed(client, result);
            Assert.Contains("access violation", result.Output, StringComparison.OrdinalIgnoreCase);
        }

        Assert.False(File.Exists(local) && new FileInfo(local).Length > 0);
    }

    [Fact]
    public async Task Get_50ParallelClients30MiB_AllByteIdentical()
    {
        // Half curl (lock-step), half atftp with windowsize 8; every client hashes what it received.
        var port = server.Port.ToString(CultureInfo.InvariantCulture);
        var tasks = Enumerable.Range(0, 50).Select(i =>
        {
            var command = i % 2 == 0
                ? $"curl -sS -o - --tftp-blksize 1468 tftp://127.0.0.1:{port}/f30m.bin | sha256sum"
                : $"atftp -g -r f30m.bin -l /dev/stdout --option 'blksize 1468' --option 'windowsize 8' 127.0.0.1 {port} | sha256sum";
            return PeerProcess.RunAsync("sh", ["-c", command], TimeSpan.FromSeconds(150));
        }).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.All(results, r =>
        {
            Assert.False(r.TimedOut);
            Assert.StartsWith(server.Hash("f30m.bin"), r.Output, StringComparison.Ordinal);
        });
    }

    private static void AssertFailed(string client, PeerProcess.Result result)
    {
        // tftp-hpa's client prints the server's ERROR but exits 0 in -c mode: its message is the signal.
        if (client != "tftp-hpa")
        {
            Assert.NotEqual(0, result.ExitCode);
        }

        Assert.Contains("rror", result.Output, StringComparison.Ordinal);
    }

    private string Local(string client, string file) => Path.Combine(server.Work, $"{client}-{file}-{Guid.NewGuid():N}");

    private Task<PeerProcess.Result> Get(string client, string file, string local, int blockSize, int windowSize)
    {
        var port = server.Port.ToString(CultureInfo.InvariantCulture);
        var blksize = blockSize.ToString(CultureInfo.InvariantCulture);
        return client switch
        {
            // The tftp-hpa client sends no options: plain RFC 1350, 512-byte blocks.
            "tftp-hpa" => PeerProcess.RunAsync("tftp", ["127.0.0.1", port, "-m", "binary", "-c", "get", file, local], Limit),
            "atftp" => PeerProcess.RunAsync("atftp", ["-g", "-r", file, "-l", local, "--option", $"blksize {blksize}", "--option", "tsize 0", "127.0.0.1", port], Limit),
            "atftp-window" => PeerProcess.RunAsync("atftp", ["-g", "-r", file, "-l", local, "--option", "blksize 1468", "--option", "tsize 0", "--option", $"windowsize {windowSize.ToString(CultureInfo.InvariantCulture)}", "127.0.0.1", port], Limit),
            "curl" => PeerProcess.RunAsync("curl", ["-sS", "-o", local, "--tftp-blksize", blksize, $"tftp://127.0.0.1:{port}/{file}"], Limit),
            "busybox" => PeerProcess.RunAsync("busybox", ["tftp", "-g", "-r", file, "-l", local, "-b", blksize, "127.0.0.1", port], Limit),
            _ => throw new ArgumentOutOfRangeException(nameof(client)),
        };
    }
}
