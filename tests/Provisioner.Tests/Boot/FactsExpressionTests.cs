using System.Text.Json;
using Kldload.Provisioner.Attestation;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Boot;

public sealed class FactsExpressionTests : IDisposable
{
    private const string GpuNode = """
        {"disks":[{"name":"nvme0n1","serial":"A"},{"name":"nvme1n1","serial":"B"}],
         "gpus":[{"vendor":"intel","pciAddress":"0000:00:02.0","deviceId":"46a6"},{"vendor":"nvidia","pciAddress":"0000:01:00.0","deviceId":"2204"}],
         "memory":{"totalGiB":1.5,"dimms":[]},"firmware":{"mode":"uefi","secureBoot":true},"schema":1}
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-facts-").FullName;
    private readonly LiteKldloadDatabase _db;
    private readonly LiteDbNodeStore _store;
    private readonly FixedImages _images = new();

    public FactsExpressionTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        _store = new LiteDbNodeStore(_db);
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _images.Channels["gpu"] = FixedImages.Image("live-gpu", "1");
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static bool Holds(string expression, string facts = GpuNode)
    {
        using var document = JsonDocument.Parse(facts);
        return FactsExpression.Parse(expression).Matches(document.RootElement);
    }

    [Theory]
    [InlineData("facts.gpus.vendor == \"nvidia\"", true)]
    [InlineData("facts.gpus.vendor == \"NVIDIA\"", true)]
    [InlineData("facts.gpus.vendor == \"amd\"", false)]
    [InlineData("facts.gpus.vendor != \"amd\"", true)]
    [InlineData("facts.gpus.vendor != \"intel\"", false)]
    [InlineData("facts.memory.totalGiB >= 1.4", true)]
    [InlineData("facts.memory.totalGiB >= 256", false)]
    [InlineData("facts.memory.totalGiB < 2", true)]
    [InlineData("facts.disks.count >= 2", true)]
    [InlineData("facts.disks.count > 2", false)]
    [InlineData("facts.memory.dimms.count == 0", true)]
    [InlineData("facts.disks.serial == \"B\"", true)]
    [InlineData("facts.firmware.secureBoot == true", true)]
    [InlineData("facts.firmware.mode==\"bios\"", false)]
    [InlineData("facts.cpu.model == \"x\"", false)]
    [InlineData("facts.cpu.model != \"x\"", true)]
    [InlineData("facts.memory.totalGiB >= 1", true)]
    public void Matches_Expression_AsDocumented(string expression, bool expected) => Assert.Equal(expected, Holds(expression));

    [Theory]
    [InlineData("memory.totalGiB >= 1")]
    [InlineData("facts >= 1")]
    [InlineData("facts.memory..totalGiB >= 1")]
    [InlineData("facts.memory.totalGiB => 1")]
    [InlineData("facts.memory.totalGiB >= \"1\"")]
    [InlineData("facts.gpus.vendor == nvidia")]
    [InlineData("facts.gpus.vendor == [\"nvidia\"]")]
    [InlineData("facts.gpus.vendor == \"nvidia\" && facts.disks.count > 1")]
    public void Parse_Malformed_RefusedWithTheExpressionNamed(string expression)
    {
        var e = Assert.Throws<FactsExpressionException>(() => FactsExpression.Parse(expression));
        Assert.Contains(expression.Trim(), e.Message, StringComparison.Ordinal);
    }

    private NodeRecord Node(string? facts, bool bound) => new()
    {
        Id = "n1",
        Name = "n1",
        Macs = ["52:54:00:00:00:01"],
        Labels = new() { ["rack"] = "r1" },
        HardwareFacts = facts,
        HardwareFactsBound = bound,
    };

    [Fact]
    public void Plan_GpuProfile_OnlyBoundFactsOfTheLastAttestedBootMatch()
    {
        IProfileStore profiles = _store;
        profiles.Upsert(new Profile { Name = "gpu", Match = new ProfileMatch { Facts = ["facts.gpus.vendor == \"nvidia\"", "facts.memory.totalGiB >= 1.4"] }, Channel = "gpu" });
        var planner = new BootPlanner(_store, _images, new BootSettings { DefaultChannel = "stable" });

        Assert.Equal("live-gpu", planner.Plan(Node(GpuNode, bound: true)).Image?.Name);
        Assert.Equal("live", planner.Plan(Node(GpuNode, bound: false)).Image?.Name); // unbound facts match nothing
        Assert.Equal("live", planner.Plan(Node(null, bound: false)).Image?.Name); // first boot: no facts yet
        Assert.Equal("live", planner.Plan(Node(GpuNode.Replace("1.5", "1.0", StringComparison.Ordinal), bound: true)).Image?.Name);
    }

    [Fact]
    public void PolicyFor_ProfileMatchingOnFacts_NeverRaisesTrust()
    {
        IProfileStore profiles = _store;
        profiles.Upsert(new Profile { Name = "gpu-lab", Match = new ProfileMatch { Labels = new() { ["rack"] = "r1" }, Facts = ["facts.disks.count >= 1"] }, EnrollmentPolicy = "Lab" });
        var planner = new BootPlanner(_store, _images, new BootSettings());
        var nodes = new NodeService(_store, TimeProvider.System);
        var identities = new NodeIdentities(nodes, planner, new AttestationSettings { EnrollmentPolicy = EnrollmentPolicy.Approve }, TimeProvider.System);
        var node = Node(GpuNode, bound: true);

        Assert.Equal("gpu-lab", planner.MatchProfile(node)?.Name);
        Assert.Equal(EnrollmentPolicy.Approve, identities.PolicyFor(node));

        profiles.Upsert(new Profile { Name = "gpu-lab", Match = new ProfileMatch { Labels = new() { ["rack"] = "r1" } }, EnrollmentPolicy = "Lab" });
        Assert.Equal(EnrollmentPolicy.Lab, identities.PolicyFor(node)); // labels alone may raise it
    }
}
