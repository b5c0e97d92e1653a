namespace Kldload.MeshCA.Tests.Tools;

/// <summary>A network namespace created for one test (unique name) and deleted on dispose.</summary>
internal sealed class NetworkNamespace : IDisposable
{
    public NetworkNamespace(string prefix)
    {
        Name = prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
        ExternalTool.Run("ip", ["netns", "add", Name]);
        Exec("ip", "link", "set", "lo", "up");
    }

    public string Name { get; }

    public string Exec(string file, params string[] args) => ExternalTool.Run("ip", ["netns", "exec", Name, file, .. args]);

    public ExternalTool.Result TryExec(string file, params string[] args) => ExternalTool.TryRun("ip", ["netns", "exec", Name, file, .. args]);

    /// <summary>Joins two namespaces with a veth pair and gives each end an address.</summary>
    public static void Connect(NetworkNamespace a, string addressA, NetworkNamespace b, string addressB)
    {
        var tag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));
        var ifA = $"klmva{tag}";
        var ifB = $"klmvb{tag}";
        ExternalTool.Run("ip", ["link", "add", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name]);
        a.Exec("ip", "addr", "add", addressA, "dev", ifA);
        b.Exec("ip", "addr", "add", addressB, "dev", ifB);
        a.Exec("ip", "link", "set", ifA, "up");
        b.Exec("ip", "link", "set", ifB, "up");
    }

    public void Dispose() => ExternalTool.TryRun("ip", ["netns", "del", Name]);
}
