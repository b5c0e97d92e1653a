namespace Kldload.ImageStore;

/// <summary>
/// Which kldload instances hold which blobs, for instances sharing one catalogue (PostgreSQL). Blobs
/// stay on each instance's own disk; an instance that lacks a blob a node asks for fetches it from one
/// that holds it (<c>GET {url}/images/{digest}</c>) and verifies the digest before serving it.
/// </summary>
public interface IBlobLocations
{
    /// <summary>
    /// Records that <paramref name="instance"/>, reachable at <paramref name="url"/>, holds exactly
    /// <paramref name="digests"/> now: rows for blobs it no longer holds are removed.
    /// </summary>
    void Publish(string instance, Uri url, IReadOnlyCollection<Sha256Digest> digests);

    /// <summary>Records one more blob <paramref name="instance"/> holds.</summary>
    void Add(string instance, Uri url, Sha256Digest digest);

    /// <summary>
    /// The base URLs of other instances recorded as holding <paramref name="digest"/>, most recently
    /// seen first, leaving out <paramref name="exceptInstance"/> and records older than <paramref name="maxAge"/>.
    /// </summary>
    IReadOnlyList<Uri> HoldersOf(Sha256Digest digest, string exceptInstance, TimeSpan maxAge);
}

/// <summary>One instance alone (the embedded catalogue): no other instance holds anything.</summary>
public sealed class SingleInstanceBlobLocations : IBlobLocations
{
    public static readonly SingleInstanceBlobLocations Instance = new();

    public void Publish(string instance, Uri url, IReadOnlyCollection<Sha256Digest> digests)
    {
    }

    public void Add(string instance, Uri url, Sha256Digest digest)
    {
    }

    public IReadOnlyList<Uri> HoldersOf(Sha256Digest digest, string exceptInstance, TimeSpan maxAge) => [];
}
