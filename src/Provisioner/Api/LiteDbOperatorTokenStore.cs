using Kldload.Provisioner.Storage;
using LiteDB;

namespace Kldload.Provisioner.Api;

/// <summary>Operator tokens in kldload.db (collection <c>operator_tokens</c>: the name is <c>_id</c>).</summary>
public sealed class LiteDbOperatorTokenStore : IOperatorTokenStore, ILiteDbMapping
{
    private readonly ILiteCollection<OperatorToken> _tokens;

    public LiteDbOperatorTokenStore(IKldloadDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _tokens = database.Database.GetCollection<OperatorToken>("operator_tokens");
    }

    /// <summary>The key of a token is its name.</summary>
    public static void Configure(BsonMapper mapper)
    {
        ArgumentNullException.ThrowIfNull(mapper);
        mapper.Entity<OperatorToken>().Id(t => t.Name);
    }

    public IReadOnlyList<OperatorToken> List() => [.. _tokens.FindAll().OrderBy(t => t.Name, StringComparer.Ordinal)];

    public OperatorToken? Get(string name) => _tokens.FindById(name);

    public bool TryInsert(OperatorToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        try
        {
            _tokens.Insert(token);
            return true;
        }
        catch (LiteException e) when (e.ErrorCode == LiteException.INDEX_DUPLICATE_KEY)
        {
            return false;
        }
    }

    public bool Update(OperatorToken token) => _tokens.Update(token);
}
