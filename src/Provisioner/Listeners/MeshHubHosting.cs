using Kldload.Provisioner.Hosting.Settings;

namespace Kldload.Provisioner.Listeners;

/// <summary>Wires the WireGuard hub (Kldload.MeshCA) into the host when <c>Mesh:Enabled</c>.</summary>
public static class MeshHubHosting
{
    /// <summary>Registers the mesh CA services and, when enabled, the hub interface. Lands with the MeshCA issue.</summary>
    public static WebApplicationBuilder AddMesh(this WebApplicationBuilder builder, KldloadConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(config);
        return builder;
    }
}
