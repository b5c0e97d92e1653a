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
        var agent = new ResidentAgent(state, channel, new WgMeshInterface(state.Interface), new NftNicLock(), TimeProvider.System, NodeAgent.Say, s => Save(options.ResidentStatePath, s));
        try
        {
            await agent.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        return 0;
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
