namespace Kldload.Provisioner.Boot;

/// <summary>
/// Boot tokens by their text (LiteDB collection <c>boottokens</c>, PostgreSQL table <c>boot_tokens</c>).
/// Writes made inside the inventory transaction (<c>NodeService.Atomically</c>) of the same database
/// belong to it.
/// </summary>
public interface IBootTokenStore
{
    /// <summary>Stores a new token; throws when one with the same text exists (texts are 256 random bits).</summary>
    void Insert(BootToken token);

    /// <summary>The token with this text, whatever its state; null when unknown.</summary>
    BootToken? Find(string token);

    /// <summary>Replaces the stored token that has this text; false when there is none.</summary>
    bool Update(BootToken token);

    /// <summary>Deletes tokens that expired before <paramref name="cutoff"/>; returns how many.</summary>
    int DeleteExpiredBefore(DateTime cutoff);

    /// <summary>
    /// Ends the node's open tokens (not completed, expiring after <paramref name="now"/>) by setting
    /// their expiry to <paramref name="now"/>; returns how many.
    /// </summary>
    int ExpireOpen(string nodeId, DateTime now);
}
