using System.Text.Json;
using Kldload.Contracts;

namespace Kldload.Agent.Tests.Install;

/// <summary>The install request as the agent's NativeAOT JSON context reads it from the answer to ready.</summary>
public sealed class InstallRequestJsonTests
{
    [Fact]
    public void ReadyResponse_WithInstall_ReadByTheAgentContext()
    {
        const string body = """{"nodeId":"n1","state":"Ready","bootToMeshSeconds":12.5,"install":{"target":"zfs-root","autoDisks":false,"disks":["/dev/vda","/dev/disk/by-id/virtio-B"],"keepEnvironments":4}}""";

        var ready = JsonSerializer.Deserialize(body, AgentJsonContext.Default.ReadyResponse)!;

        var install = ready.Install!;
        Assert.Equal(("zfs-root", false, 4), (install.Target, install.AutoDisks, install.KeepEnvironments));
        Assert.Equal(["/dev/vda", "/dev/disk/by-id/virtio-B"], install.Disks);
    }

    [Fact]
    public void ReadyResponse_WithoutInstall_IsNull()
    {
        var ready = JsonSerializer.Deserialize("""{"nodeId":"n1","state":"Ready","bootToMeshSeconds":null}""", AgentJsonContext.Default.ReadyResponse)!;

        Assert.Null(ready.Install);
        Assert.Equal(new ReadyResponse("n1", "Ready", null), ready);
    }
}
