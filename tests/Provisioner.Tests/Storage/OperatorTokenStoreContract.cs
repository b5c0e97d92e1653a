using System.Text.Json;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Tests.Storage;

/// <summary>What <see cref="IOperatorTokenStore"/> promises, whichever database keeps it.</summary>
public abstract class OperatorTokenStoreContract
{
    private static readonly DateTime T0 = new(2026, 12, 7, 9, 30, 15, 123, DateTimeKind.Utc);

    protected abstract IOperatorTokenStore Tokens { get; }

    private static OperatorToken Token(string name, OperatorRole role = OperatorRole.Viewer) => new()
    {
        Name = name,
        Role = role,
        Hash = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 7 + name.Length))],
        Created = T0,
        CreatedBy = "admin",
    };

    [Fact]
    public void TryInsert_FullToken_GetReturnsEveryFieldAsStored()
    {
        var token = Token("alice", OperatorRole.Admin);
        token.LastUsed = T0.AddMinutes(3);
        token.Revoked = T0.AddMinutes(4);

        Assert.True(Tokens.TryInsert(token));

        var read = Tokens.Get("alice")!;
        Assert.Equal(JsonSerializer.Serialize(token), JsonSerializer.Serialize(read));
        Assert.Equal(DateTimeKind.Utc, read.Created.Kind);
    }

    [Fact]
    public void TryInsert_NewToken_RoundTripsItsNulls()
    {
        var token = Token("bob", OperatorRole.Operator);

        Assert.True(Tokens.TryInsert(token));

        Assert.Equal(JsonSerializer.Serialize(token), JsonSerializer.Serialize(Tokens.Get("bob")));
    }

    [Fact]
    public void TryInsert_NameTaken_ReturnsFalseAndKeepsTheFirst()
    {
        Assert.True(Tokens.TryInsert(Token("alice", OperatorRole.Viewer)));

        var second = Token("alice", OperatorRole.Admin);
        second.CreatedBy = "mallory";
        Assert.False(Tokens.TryInsert(second));

        var stored = Assert.Single(Tokens.List());
        Assert.Equal(OperatorRole.Viewer, stored.Role);
        Assert.Equal("admin", stored.CreatedBy);
    }

    [Fact]
    public void Get_Unknown_ReturnsNull()
    {
        Tokens.TryInsert(Token("alice"));

        Assert.Null(Tokens.Get("bob"));
    }

    [Fact]
    public void List_EveryTokenRevokedOnesIncluded_InOrdinalOrderOfName()
    {
        Tokens.TryInsert(Token("carol"));
        Tokens.TryInsert(Token("alice"));
        var revoked = Token("bob");
        revoked.Revoked = T0;
        Tokens.TryInsert(revoked);
        Tokens.TryInsert(Token("a.b"));

        Assert.Equal(["a.b", "alice", "bob", "carol"], Tokens.List().Select(t => t.Name));
        Assert.Equal(T0, Tokens.List()[2].Revoked);
    }

    [Fact]
    public void Update_ChangesTheStoredToken_UnknownReturnsFalseAndCreatesNothing()
    {
        var token = Token("alice");
        Tokens.TryInsert(token);
        token.LastUsed = T0.AddMinutes(1);
        token.Revoked = T0.AddMinutes(2);

        Assert.True(Tokens.Update(token));
        Assert.False(Tokens.Update(Token("bob")));

        var read = Tokens.Get("alice")!;
        Assert.Equal(T0.AddMinutes(1), read.LastUsed);
        Assert.Equal(T0.AddMinutes(2), read.Revoked);
        Assert.Null(Tokens.Get("bob"));
    }
}

public sealed class LiteDbOperatorTokenStoreTests : OperatorTokenStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-operatortokens-").FullName;
    private readonly LiteKldloadDatabase _db;

    public LiteDbOperatorTokenStoreTests()
    {
        _db = LiteKldloadDatabase.Open(Path.Combine(_dir, "kldload.db"));
        Tokens = new LiteDbOperatorTokenStore(_db);
    }

    protected override IOperatorTokenStore Tokens { get; }

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresOperatorTokenStoreTests : OperatorTokenStoreContract, IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _connectionString;
    private readonly PostgresKldloadDatabase _db;

    public PostgresOperatorTokenStoreTests(PostgresFixture postgres)
    {
        ArgumentNullException.ThrowIfNull(postgres);
        _connectionString = postgres.CreateDatabase();
        _db = PostgresKldloadDatabase.Open(_connectionString);
        Tokens = new PostgresOperatorTokenStore(_db);
    }

    protected override IOperatorTokenStore Tokens { get; }

    public void Dispose() => _db.Dispose();

    [Fact]
    public void OperatorTokens_OnTwoInstances_AuthenticateATokenTheOtherCreated()
    {
        var time = TimeProvider.System;
        var first = new OperatorTokens(Tokens, time);
        Assert.Equal(TokenCreateProblem.None, first.TryCreate("alice", OperatorRole.Operator, "admin", out _, out var text));

        using var other = PostgresKldloadDatabase.Open(_connectionString);
        var second = new OperatorTokens(new PostgresOperatorTokenStore(other), time);

        Assert.Equal(new OperatorIdentity("alice", OperatorRole.Operator), second.Authenticate(text!));
        Assert.Equal(TokenCreateProblem.NameTaken, second.TryCreate("alice", OperatorRole.Admin, "admin", out _, out _));
    }
}
