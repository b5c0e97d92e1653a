namespace Kldload.Provisioner.Api;

/// <summary>
/// Named operator tokens by name (LiteDB collection <c>operator_tokens</c>, PostgreSQL table
/// <c>operator_tokens</c>). Records are never deleted: a revoked token keeps its name.
/// </summary>
public interface IOperatorTokenStore
{
    /// <summary>Every token, revoked ones included, by name in ordinal order.</summary>
    IReadOnlyList<OperatorToken> List();

    /// <summary>The token with this name; null when none.</summary>
    OperatorToken? Get(string name);

    /// <summary>Stores a new token; false (and nothing written) when the name is taken.</summary>
    bool TryInsert(OperatorToken token);

    /// <summary>Replaces the stored token with this name; false when there is none.</summary>
    bool Update(OperatorToken token);
}
