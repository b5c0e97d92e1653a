using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Kldload.Agent.Resident;

/// <summary>Starts the resident agent with its real parts (HTTP over the mesh, <c>wg</c>, <c>nft</c>) and keeps its state in RAM.</summary>
internal static class ResidentHost
{
    /// <summary>Runs until <paramref name="ct"/> fires; 0 then.</summary>
    public static async Task<int> RunAsync(ResidentState state, AgentOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(options);
        using var channel = new HttpControlChannel(state.HubAddress, state.ServerPort, TimeSpan.FromSeconds(40));
        var link = new WgMeshInterface(state.Interface);
        var agent = new ResidentAgent(state, channel, link, new NftNicLock(), TimeProvider.System, NodeAgent.Say, s => Save(options.ResidentStatePath, s));
        try
        {
            await Task.WhenAll(agent.RunAsync(ct), ServeMetricsAsync(agent, link, ct)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        return 0;
    }

    /// <summary>
    /// Once kldload has named the metrics port (<c>Mesh:MetricsPort</c>, in the first watch answer),
    /// serves the node's metrics on its mesh IPv6 address only.
    /// </summary>
    private static async Task ServeMetricsAsync(ResidentAgent agent, IMeshInterface link, CancellationToken ct)
    {
        while (agent.MetricsPort is null)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        }

        var address = agent.Bundle.Addresses.First(a => a.Address.AddressFamily == AddressFamily.InterNetworkV6).Address;
        var endpoint = new IPEndPoint(address, agent.MetricsPort.Value);
        var metrics = new NodeMetrics("/", agent, link);
        using var listener = new MetricsListener(endpoint, metrics.Render);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            NodeAgent.Say($"metrics: cannot listen on {endpoint} ({e.Message}); no metrics this boot");
            return;
        }

        NodeAgent.Say($"metrics: http://{endpoint}/metrics (the mesh address only)");
        await listener.RunAsync(ct).ConfigureAwait(false);
    }

    public static void Save(string path, ResidentState state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(state, AgentJsonContext.Default.ResidentState));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static ResidentState? Load(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), AgentJsonContext.Default.ResidentState) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
