using System.Text.Json;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IBootTokenStore"/> promises, whichever database keeps it.</summary>
public abstract class BootTokenStoreContract
{
    private static readonly DateTime T0 = new(2026, 12, 7, 9, 30, 15, 123, DateTimeKind.Utc);

    protected abstract IBootTokenStore Tokens { get; }

    /// <summary>The node store of the same database, whose transaction the token store joins.</summary>
    protected abstract INodeStore Nodes { get; }

    private static BootToken Token(string text, string nodeId = "000000000001", DateTime? expires = null, DateTime? completed = null) => new()
    {
        Token = text,
        NodeId = nodeId,
        Mac = "52:54:00:00:00:01",
        IssuedAt = T0,
        ExpiresAt = expires ?? T0.AddMinutes(30),
        CompletedAt = completed,
    };

    [Fact]
    public void Insert_FullToken_FindReturnsEveryFieldAsStored()
    {
        var token = new BootToken
        {
            Token = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE",
            NodeId = "0123456789ab",
            Mac = "52:54:00:00:00:07",
            IssuedAt = T0,
            ExpiresAt = T0.AddMinutes(30),
            CompletedAt = T0.AddMinutes(2),
            ImageName = "debian",
            ImageVersion = "13.1",
            KernelDigest = new string('k', 64),
            KernelAuthenticodeDigest = new string('a', 64),
            InitrdDigest = new string('i', 64),
            LoadOptions = "vmlinuz initrd=initrd quiet kldload.token=T",
        };
        Tokens.Insert(token);

        var read = Tokens.Find(token.Token)!;

        Assert.Equal(JsonSerializer.Serialize(token), JsonSerializer.Serialize(read));
        Assert.Equal(DateTimeKind.Utc, read.ExpiresAt.Kind);
    }

    [Fact]
    public void Insert_MinimalToken_RoundTripsItsNulls()
    {
        var token = Token("t1");
        Tokens.Insert(token);

        Assert.Equal(JsonSerializer.Serialize(token), JsonSerializer.Serialize(Tokens.Find("t1")));
    }

    [Fact]
    public void Find_UnknownOrOtherCase_ReturnsNull()
    {
        Tokens.Insert(Token("AbC"));

        Assert.Null(Tokens.Find("nope"));
        Assert.Null(Tokens.Find("abc"));
        Assert.NotNull(Tokens.Find("AbC"));
    }

    [Fact]
    public void Insert_SameTextTwice_IsRefusedAndKeepsTheFirst()
    {
        Tokens.Insert(Token("t1", "000000000001"));

        Assert.ThrowsAny<Exception>(() => Tokens.Insert(Token("t1", "000000000002")));

        Assert.Equal("000000000001", Tokens.Find("t1")!.NodeId);
    }

    [Fact]
    public void Update_ChangesTheStoredToken_UnknownReturnsFalseAndCreatesNothing()
    {
        var token = Token("t1");
        Tokens.Insert(token);
        token.CompletedAt = T0.AddMinutes(1);
        token.LoadOptions = "vmlinuz quiet";

        Assert.True(Tokens.Update(token));
        Assert.False(Tokens.Update(Token("t2")));

        var read = Tokens.Find("t1")!;
        Assert.Equal(T0.AddMinutes(1), read.CompletedAt);
        Assert.Equal("vmlinuz quiet", read.LoadOptions);
        Assert.Null(Tokens.Find("t2"));
    }

    [Fact]
    public void DeleteExpiredBefore_DeletesOnlyTokensThatExpiredBeforeTheCutoff()
    {
        Tokens.Insert(Token("old", expires: T0.AddMinutes(-1)));
        Tokens.Insert(Token("older", expires: T0.AddDays(-2)));
        Tokens.Insert(Token("at-cutoff", expires: T0));
        Tokens.Insert(Token("live", expires: T0.AddMinutes(1)));

        Assert.Equal(2, Tokens.DeleteExpiredBefore(T0));

        Assert.Null(Tokens.Find("old"));
        Assert.Null(Tokens.Find("older"));
        Assert.NotNull(Tokens.Find("at-cutoff"));
        Assert.NotNull(Tokens.Find("live"));
        Assert.Equal(0, Tokens.DeleteExpiredBefore(T0));
    }

    [Fact]
    public void ExpireOpen_EndsOnlyTheNodesOpenTokens()
    {
        var now = T0.AddMinutes(5);
        Tokens.Insert(Token("open-1", expires: T0.AddMinutes(30)));
        Tokens.Insert(Token("open-2", expires: T0.AddMinutes(10)));
        Tokens.Insert(Token("completed", expires: T0.AddMinutes(30), completed: T0.AddMinutes(1)));
        Tokens.Insert(Token("expired", expires: T0.AddMinutes(1)));
        Tokens.Insert(Token("other-node", "000000000002", expires: T0.AddMinutes(30)));

        Assert.Equal(2, Tokens.ExpireOpen("000000000001", now));

        Assert.Equal(now, Tokens.Find("open-1")!.ExpiresAt);
        Assert.Equal(now, Tokens.Find("open-2")!.ExpiresAt);
        Assert.Equal(T0.AddMinutes(30), Tokens.Find("completed")!.ExpiresAt);
        Assert.Equal(T0.AddMinutes(1), Tokens.Find("expired")!.ExpiresAt);
        Assert.Equal(T0.AddMinutes(30), Tokens.Find("other-node")!.ExpiresAt);
        Assert.Equal(0, Tokens.ExpireOpen("000000000001", now));
    }

    [Fact]
    public void Insert_InsideANodeStoreTransactionThatFails_IsRolledBackWithIt()
    {
        Assert.Throws<InvalidOperationException>(() => Nodes.InTransaction<int>(() =>
        {
            Tokens.Insert(Token("t1"));
            Assert.NotNull(Tokens.Find("t1"));
            throw new InvalidOperationException("the script could not be rendered");
        }));

        Assert.Null(Tokens.Find("t1"));
    }
}

public sealed class LiteDbBootTokenStoreTests : BootTokenStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-tokenstore-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbBootTokenStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Tokens = new LiteDbBootTokenStore(_db);
        Nodes = new LiteDbNodeStore(_db);
    }

    protected override IBootTokenStore Tokens { get; }

    protected override INodeStore Nodes { get; }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresBootTokenStoreTests : BootTokenStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly PostgresKldloadDatabase _db;

    public PostgresBootTokenStoreTests(PostgresFixture postgres)
    {
        ArgumentNullException.ThrowIfNull(postgres);
        _db = PostgresKldloadDatabase.Open(postgres.CreateDatabase());
        Tokens = new PostgresBootTokenStore(_db);
        Nodes = new PostgresNodeStore(_db);
    }

    protected override IBootTokenStore Tokens { get; }

    protected override INodeStore Nodes { get; }

    public void Dispose() => _db.Dispose();
}
