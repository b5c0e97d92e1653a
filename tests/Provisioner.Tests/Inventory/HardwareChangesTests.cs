using System.Text.Json;
using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Tests.Inventory;

public sealed class HardwareChangesTests
{
    private const string Before = """
        {"system":{"serial":"SN1"},"memory":{"totalGiB":64},"cpu":{"model":"EPYC 7443","threads":48},
         "disks":[{"name":"nvme0n1","serial":"S2X1","model":"Samsung","sizeBytes":1920383410176},{"name":"nvme1n1","serial":"S2X2"}],
         "nics":[{"mac":"52:54:00:00:00:01","driver":"ice"}],"gpus":[]}
        """;

    private static IReadOnlyList<HardwareDifference> Compare(string before, string after)
    {
        using var a = JsonDocument.Parse(before);
        using var b = JsonDocument.Parse(after);
        return HardwareChanges.Compare(a.RootElement, b.RootElement);
    }

    [Fact]
    public void Compare_SameFactsReordered_NoDifference()
    {
        var reordered = """
            {"gpus":[],"nics":[{"driver":"ice","mac":"52:54:00:00:00:01"}],"disks":[{"serial":"S2X2","name":"nvme1n1"},{"sizeBytes":1920383410176,"model":"Samsung","serial":"S2X1","name":"nvme0n1"}],
             "cpu":{"threads":48,"model":"EPYC 7443"},"memory":{"totalGiB":64.0},"system":{"serial":"SN1"}}
            """;
        Assert.Empty(Compare(Before, reordered));
    }

    [Fact]
    public void Compare_DiskGoneMemoryShrunkNicAdded_EachNamed()
    {
        var after = Before
            .Replace(",{\"name\":\"nvme1n1\",\"serial\":\"S2X2\"}", string.Empty, StringComparison.Ordinal)
            .Replace("\"totalGiB\":64", "\"totalGiB\":48", StringComparison.Ordinal)
            .Replace("\"driver\":\"ice\"}]", "\"driver\":\"ice\"},{\"mac\":\"52:54:00:00:00:02\",\"driver\":\"mlx5_core\"}]", StringComparison.Ordinal);
        var changes = Compare(Before, after);
        Assert.Equal(
            [
                new HardwareDifference("memory", "memory 64 → 48 GiB"),
                new HardwareDifference("disk", "disk serial S2X2 missing"),
                new HardwareDifference("nic", "nic 52:54:00:00:00:02 added (mlx5_core)"),
            ],
            changes);
    }

    [Fact]
    public void Compare_SerialAndCpuChanged_Named()
    {
        var changes = Compare(Before, Before.Replace("SN1", "SN9", StringComparison.Ordinal).Replace("\"threads\":48", "\"threads\":24", StringComparison.Ordinal));
        Assert.Equal(["system serial SN1 → SN9", "CPU threads 48 → 24"], changes.Select(c => c.Message));
    }

    [Theory]
    [InlineData("4769312f302f3132", null, "Gi1/0/12", null, false)] // circuit "Gi1/0/12" = LLDP port
    [InlineData("4769312f302f3132", null, "Gi1/0/13", null, true)]
    [InlineData("4769312f302f3132", "aabbccddeeff", "Gi1/0/12", "aa:bb:cc:dd:ee:ff", false)]
    [InlineData("4769312f302f3132", "aabbccddeeff", "Gi1/0/12", "aa:bb:cc:dd:ee:00", true)]
    [InlineData(null, null, "Gi1/0/12", "aa:bb:cc:dd:ee:ff", false)] // no relay: nothing to compare
    [InlineData("4769312f302f3132", null, null, null, false)] // no LLDP heard
    public void CableCheck_RelayAgainstLldp_MismatchOnlyWhenBothKnownAndDiffer(string? circuit, string? remote, string? port, string? chassis, bool mismatch)
    {
        var relay = circuit is null && remote is null ? null : new RelayLocation { CircuitId = circuit, RemoteId = remote };
        var lldp = port is null && chassis is null ? string.Empty : $",\"lldp\":{{\"interface\":\"eno1\",\"portId\":{Json(port)},\"chassisId\":{Json(chassis)}}}";
        using var facts = JsonDocument.Parse("{\"schema\":1" + lldp + "}");
        var result = HardwareInventory.CableCheck(relay, facts.RootElement);
        Assert.Equal(mismatch, result is not null);
        if (mismatch)
        {
            Assert.Contains("not where the relay says", result, StringComparison.Ordinal);
        }
    }

    private static string Json(string? s) => s is null ? "null" : $"\"{s}\"";
}
