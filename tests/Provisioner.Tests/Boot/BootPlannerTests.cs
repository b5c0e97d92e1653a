using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Boot;

public sealed class BootPlannerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-plan-").FullName;
    private readonly LiteKldloadDatabase _db;
    private readonly LiteDbNodeStore _store;
    private readonly FixedImages _images = new();

    public BootPlannerTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        _store = new LiteDbNodeStore(_db);
        _images.Channels["stable"] = FixedImages.Image("live", "1");
        _images.Channels["canary"] = FixedImages.Image("live", "2");
        _images.Images.Add(FixedImages.Image("live", "1"));
        _images.Images.Add(FixedImages.Image("live", "3"));
    }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private BootPlanner Planner(string? defaultChannel = null) => new(_store, _images, new BootSettings { DefaultChannel = defaultChannel });

    private static NodeRecord Node(string mac = "52:54:00:00:00:01") => new() { Id = "n1", Name = "n1", Macs = [mac], Serial = "SN1", Labels = new() { ["rack"] = "r1" } };

    [Fact]
    public void Plan_NothingAssigned_NoImageWithReason()
    {
        var plan = Planner().Plan(Node());
        Assert.Null(plan.Image);
        Assert.Contains("Boot:DefaultChannel", plan.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_DefaultChannel_Used()
        => Assert.Equal("1", Planner("stable").Plan(Node()).Image?.Version);

    [Fact]
    public void Plan_ProfileBeatsDefault_PinnedNodeBeatsProfile()
    {
        IProfileStore profiles = _store;
        profiles.Upsert(new Profile { Name = "rack1", Match = new ProfileMatch { Labels = new() { ["rack"] = "r1" } }, Channel = "canary", KernelArgs = "quiet" });
        var node = Node();
        var plan = Planner("stable").Plan(node);
        Assert.Equal("2", plan.Image?.Version);
        Assert.Equal("rack1", plan.Profile?.Name);
        Assert.Equal("quiet", plan.KernelArgs);

        node.PinnedImage = new ImageRef { Name = "live", Version = "3" };
        Assert.Equal("3", Planner("stable").Plan(node).Image?.Version);
    }

    [Fact]
    public void MatchProfile_HighestPriorityWins_AllCriteriaMustMatch()
    {
        IProfileStore profiles = _store;
        profiles.Upsert(new Profile { Name = "by-mac", Priority = 1, Match = new ProfileMatch { Macs = ["52-54-00-00-00-01"] } });
        profiles.Upsert(new Profile { Name = "by-serial-and-label", Priority = 5, Match = new ProfileMatch { Serials = ["sn1"], Labels = new() { ["rack"] = "r2" } } });
        profiles.Upsert(new Profile { Name = "by-circuit", Priority = 9, Match = new ProfileMatch { CircuitIds = ["0a0b"] } });
        var node = Node();
        Assert.Equal("by-mac", Planner().MatchProfile(node)?.Name);

        node.Labels["rack"] = "r2";
        Assert.Equal("by-serial-and-label", Planner().MatchProfile(node)?.Name);

        node.Location = new RelayLocation { CircuitId = "0A0B" };
        Assert.Equal("by-circuit", Planner().MatchProfile(node)?.Name);
    }

    [Fact]
    public void Matches_EmptyProfile_MatchesNothing() => Assert.False(BootPlanner.Matches(new ProfileMatch(), Node()));
}
