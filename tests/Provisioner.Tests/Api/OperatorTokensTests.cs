using System.Security.Cryptography;
using System.Text;
using Kldload.Provisioner.Api;
using Kldload.Provisioner.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Kldload.Provisioner.Tests.Api;

/// <summary>Named operator tokens in a real LiteDB file: hashing, names, revocation, last use.</summary>
public sealed class OperatorTokensTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kldload-tokens-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 9, 0, 0, TimeSpan.Zero));
    private LiteKldloadDatabase _db;
    private OperatorTokens _store;

    public OperatorTokensTests()
    {
        _db = LiteKldloadDatabase.Open(DatabasePath);
        _store = new OperatorTokens(new LiteDbOperatorTokenStore(_db), _time);
    }

    private string DatabasePath => Path.Combine(_dir, "kldload.db");

    public void Dispose()
    {
        _db.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string Create(string name, OperatorRole role)
    {
        Assert.Equal(TokenCreateProblem.None, _store.TryCreate(name, role, "admin", out _, out var token));
        return token!;
    }

    [Fact]
    public void TryCreate_NewName_ReturnsA32ByteTokenThatAuthenticatesAsItsNameAndRole()
    {
        var token = Create("alice", OperatorRole.Operator);
        Assert.Matches("^kldt_[A-Za-z0-9_-]{43}$", token);
        Assert.Equal(32, Convert.FromBase64String(token[5..].Replace('-', '+').Replace('_', '/') + "=").Length);
        Assert.Equal(new OperatorIdentity("alice", OperatorRole.Operator), _store.Authenticate(token));
        Assert.NotEqual(token, Create("bob", OperatorRole.Operator));
    }

    [Fact]
    public void TryCreate_StoresOnlyTheSha256OfTheToken()
    {
        var token = Create("alice", OperatorRole.Viewer);
        var stored = Assert.Single(_store.List());
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(token)), stored.Hash);
        Assert.Equal(OperatorTokens.Hash(token), stored.Hash);
        Assert.Equal("admin", stored.CreatedBy);
        Assert.Equal(_time.GetUtcNow().UtcDateTime, stored.Created);

        // Neither the token nor its secret part is anywhere in the database file.
        _db.Dispose();
        var file = File.ReadAllBytes(DatabasePath);
        Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(token[5..])));
        _db = LiteKldloadDatabase.Open(DatabasePath);
    }

    [Fact]
    public void Authenticate_AfterReopen_StillKnowsTheToken()
    {
        var token = Create("alice", OperatorRole.Admin);
        _db.Dispose();
        _db = LiteKldloadDatabase.Open(DatabasePath);
        _store = new OperatorTokens(new LiteDbOperatorTokenStore(_db), _time);
        Assert.Equal(new OperatorIdentity("alice", OperatorRole.Admin), _store.Authenticate(token));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Alice")]
    [InlineData("-alice")]
    [InlineData(".alice")]
    [InlineData("al ice")]
    [InlineData("alice\n")]
    [InlineData("al/ice")]
    [InlineData("al:ice")]
    public void TryCreate_InvalidName_IsRefused(string name)
    {
        Assert.Equal(TokenCreateProblem.InvalidName, _store.TryCreate(name, OperatorRole.Viewer, "admin", out _, out var token));
        Assert.Null(token);
        Assert.Empty(_store.List());
    }

    [Fact]
    public void TryCreate_NameLengths_OneTo63Accepted()
    {
        Create("a", OperatorRole.Viewer);
        Create(new string('b', 63), OperatorRole.Viewer);
        Create("ci.bot_2-x", OperatorRole.Viewer);
        Assert.Equal(TokenCreateProblem.InvalidName, _store.TryCreate(new string('c', 64), OperatorRole.Viewer, "admin", out _, out _));
    }

    [Fact]
    public void TryCreate_TakenRevokedOrReservedName_IsRefused()
    {
        Create("alice", OperatorRole.Viewer);
        Assert.Equal(TokenCreateProblem.NameTaken, _store.TryCreate("alice", OperatorRole.Admin, "admin", out _, out _));
        Assert.True(_store.Revoke("alice", out _));
        Assert.Equal(TokenCreateProblem.NameTaken, _store.TryCreate("alice", OperatorRole.Admin, "admin", out _, out _));
        Assert.Equal(TokenCreateProblem.ReservedName, _store.TryCreate("admin", OperatorRole.Admin, "admin", out _, out _));
        Assert.Equal(OperatorRole.Viewer, Assert.Single(_store.List()).Role);
    }

    [Fact]
    public void Revoke_TakesEffectOnTheNextCheckAndCancelsRunningRequests()
    {
        var alice = Create("alice", OperatorRole.Operator);
        var bob = Create("bob", OperatorRole.Operator);
        var running = _store.RevocationOf("alice");
        Assert.False(running.IsCancellationRequested);

        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(_store.Revoke("alice", out var record));
        Assert.Equal(_time.GetUtcNow().UtcDateTime, record!.Revoked);
        Assert.Null(_store.Authenticate(alice));
        Assert.True(running.IsCancellationRequested);
        Assert.True(_store.RevocationOf("alice").IsCancellationRequested);
        Assert.Equal("bob", _store.Authenticate(bob)?.Name);

        // A second revocation keeps the first time; an unknown name is not found.
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(_store.Revoke("alice", out var again));
        Assert.Equal(record.Revoked, again!.Revoked);
        Assert.False(_store.Revoke("carol", out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("kldt_")]
    [InlineData("not-a-token")]
    public void Authenticate_UnknownToken_IsNull(string presented)
    {
        var token = Create("alice", OperatorRole.Admin);
        Assert.Null(_store.Authenticate(presented));
        Assert.Null(_store.Authenticate(token[..^1]));
        Assert.Null(_store.Authenticate(token + "x"));
    }

    [Fact]
    public void Authenticate_RecordsLastUseAtMostOncePerMinute()
    {
        var token = Create("alice", OperatorRole.Viewer);
        Assert.Null(Assert.Single(_store.List()).LastUsed);

        var first = _time.GetUtcNow().UtcDateTime;
        _store.Authenticate(token);
        Assert.Equal(first, Assert.Single(_store.List()).LastUsed);

        _time.Advance(TimeSpan.FromSeconds(30));
        _store.Authenticate(token);
        Assert.Equal(first, Assert.Single(_store.List()).LastUsed);

        _time.Advance(TimeSpan.FromSeconds(31));
        _store.Authenticate(token);
        Assert.Equal(_time.GetUtcNow().UtcDateTime, Assert.Single(_store.List()).LastUsed);
    }

    [Theory]
    [InlineData("viewer", OperatorRole.Viewer)]
    [InlineData("Operator", OperatorRole.Operator)]
    [InlineData("ADMIN", OperatorRole.Admin)]
    public void Roles_ParseTheirNames(string text, OperatorRole role)
    {
        Assert.True(OperatorRoles.TryParse(text, out var parsed));
        Assert.Equal(role, parsed);
        Assert.Equal(text.ToUpperInvariant(), OperatorRoles.Name(role).ToUpperInvariant());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("2")]
    [InlineData("root")]
    public void Roles_OtherText_IsNotARole(string? text) => Assert.False(OperatorRoles.TryParse(text, out _));
}
