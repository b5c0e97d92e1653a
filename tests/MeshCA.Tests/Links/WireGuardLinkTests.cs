using System.Diagnostics;
using Kldload.MeshCA.Distribution;
using Kldload.MeshCA.Links;
using Kldload.MeshCA.Tests.Distribution;
using Kldload.MeshCA.Tests.Tools;

namespace Kldload.MeshCA.Tests.Links;

[Trait("Tier", "Peer")]
public class WireGuardLinkTests
{
    private static string IfName(string p) => p + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2));

    private static bool HasExited(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return p.WaitForExit(TimeSpan.FromSeconds(5));
        }
        catch (ArgumentException)
        {
            return true; // no such process any more
        }
    }

    [Fact]
    public void SyncConfiguration_MergedKey_KeepsInterfaceKey_UnmergedFileWouldWipeIt()
    {
        using var ns = new NetworkNamespace("klmeshs");
        using var link = WireGuardLink.Create(IfName("klms"), ns.Name);
        var (priv, pub) = MeshFixture.NewKey();
        link.SetPrivateKey(priv, 40000);
        var config = WireGuardConfigRenderer.RenderSetConf(PeerBundleTests.Sample());

        link.SyncConfiguration(config, priv);
        link.SyncConfiguration(config, priv);
        Assert.Equal(WireGuardKey.ToBase64(pub), link.PublicKey());
        Assert.Equal(2, link.PeerKeys().Count);

        // What the merge guards against: wg syncconf of the bare file clears the key.
        ns.Exec("sh", "-c", $"wg syncconf {link.Name} /dev/stdin <<'EOF'\n{config}EOF\n");
        Assert.Null(link.PublicKey());
    }

    [Fact]
    public void Create_StaleInterfaceLeftBehind_IsReplaced()
    {
        using var ns = new NetworkNamespace("klmeshs");
        var name = IfName("klms");
        var stale = WireGuardLink.Create(name, ns.Name);
        var stalePid = stale.UserspacePid;
        try
        {
            // A second start while the first one's interface still exists, as after a crash.
            using var fresh = WireGuardLink.Create(name, ns.Name);
            Assert.True(WireGuardLink.Exists(name, ns.Name));
            if (stalePid is { } pid)
            {
                Assert.True(HasExited(pid), "the stale wireguard-go should exit with its interface");
            }

            fresh.SetPrivateKey(MeshFixture.NewKey().Private);
            Assert.NotNull(fresh.PublicKey());
        }
        finally
        {
            stale.Dispose();
        }

        Assert.False(WireGuardLink.Exists(name, ns.Name));
    }

    [Fact]
    public void Create_NoKernelModuleHere_FallsBackToWireguardGoAndDisposeRemovesIt()
    {
        using var ns = new NetworkNamespace("klmeshs");
        var name = IfName("klms");
        int? pid;
        using (var link = WireGuardLink.Create(name, ns.Name))
        {
            var kernel = ns.TryExec("ip", "link", "add", IfName("klmk"), "type", "wireguard").ExitCode == 0;
            Assert.Equal(kernel ? WireGuardBackend.Kernel : WireGuardBackend.Userspace, link.Backend);
            pid = link.UserspacePid;
            Assert.Equal(link.Backend == WireGuardBackend.Userspace, pid is not null);
        }

        Assert.False(WireGuardLink.Exists(name, ns.Name));
        if (pid is { } p)
        {
            Assert.True(HasExited(p));
        }
    }
}
