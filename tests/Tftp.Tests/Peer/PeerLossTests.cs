using System.Diagnostics;

namespace Kldload.Tftp.Tests.Peer;

/// <summary>The real <c>kldload serve</c> binary in a namespace, atftp in another, 5% UDP loss between.</summary>
[Collection("TftpPeer")]
[Trait("Tier", "Peer")]
public sealed class PeerLossTests(PeerServerFixture files)
{
    [Fact]
    public async Task Get_10MiBWindow8With5PercentLoss_ByteIdenticalWithinAMinute()
    {
        await using var namespaces = await LossyNamespaces.CreateAsync(dropPercent: 5);
        var data = Directory.CreateTempSubdirectory("kltftpdata").FullName;
        var port = "6969";
        using var server = StartKldload(namespaces, port, data);
        try
        {
            await WaitForListeningAsync(server, TimeSpan.FromSeconds(60));
            var local = Path.Combine(files.Work, $"loss-{Guid.NewGuid():N}");
            var watch = Stopwatch.StartNew();
            var result = await PeerProcess.RunAsync(
                "ip",
                ["netns", "exec", namespaces.Client, "atftp", "--trace", "-g", "-r", "f10m.bin", "-l", local, "--option", "blksize 1468", "--option", "windowsize 8", "--option", "tsize 0", namespaces.ServerAddress, port],
                TimeSpan.FromSeconds(60));
            watch.Stop();
            Assert.False(result.TimedOut, $"atftp did not finish in 60 s: {Tail(result.Output)}");
            Assert.True(result.ExitCode == 0, $"atftp exit {result.ExitCode}: {Tail(result.Output)}");
            Assert.Equal(files.Hash("f10m.bin"), PeerServerFixture.FileHash(local));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60));
            File.Delete(local);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync(CancellationToken.None);
            Directory.Delete(data, recursive: true);
        }
    }

    private Process StartKldload(LossyNamespaces namespaces, string port, string data)
    {
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "netns", "exec", namespaces.Server, "dotnet", Path.Combine(AppContext.BaseDirectory, "kldload.dll"), "serve",
            $"--Tftp:Endpoint={namespaces.ServerAddress}:{port}", $"--Tftp:Root={files.Root}", "--Tftp:MaxWindowSize=16",
            "--urls", "http://127.0.0.1:0", $"--Kldload:DataDir={data}",
        })
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("cannot start kldload");
    }

    private static async Task WaitForListeningAsync(Process server, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        while (await server.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.Contains("TFTP listening", StringComparison.Ordinal))
            {
                // Keep draining the output so the server never blocks on a full pipe.
                _ = server.StandardOutput.ReadToEndAsync(CancellationToken.None);
                _ = server.StandardError.ReadToEndAsync(CancellationToken.None);
                return;
            }
        }

        throw new InvalidOperationException($"kldload exited before listening: {await server.StandardError.ReadToEndAsync(CancellationToken.None)}");
    }

    // atftp --trace logs every packet: the tail shows how a failed transfer ended.
    private static string Tail(string text) => text.Length > 6000 ? text[^6000..] : text;
}
