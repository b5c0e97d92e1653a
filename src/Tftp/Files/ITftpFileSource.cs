namespace Kldload.Tftp.Files;

/// <summary>
/// Maps a requested file name to content. The server asks once per read request and streams what it
/// gets from that one handle, so a file replaced during a transfer cannot yield a mix of versions.
/// </summary>
public interface ITftpFileSource
{
    /// <summary>
    /// Opens <paramref name="requestedName"/> as the client sent it. Returns
    /// <see cref="TftpFileStatus.NotFound"/> when this source does not have it (a composite then asks
    /// the next source) and <see cref="TftpFileStatus.Refused"/> when the name breaks a safety rule.
    /// </summary>
    TftpFileLookup Open(string requestedName);
}

/// <summary>What a lookup found.</summary>
public enum TftpFileStatus : byte
{
    Found = 0,
    NotFound = 1,
    Refused = 2,
}

/// <summary>The result of <see cref="ITftpFileSource.Open"/>: a file, or why there is none.</summary>
public readonly record struct TftpFileLookup(TftpFileStatus Status, TftpFile? File, string? Reason)
{
    public static TftpFileLookup Found(TftpFile file) => new(TftpFileStatus.Found, file, null);

    public static TftpFileLookup NotFound(string reason) => new(TftpFileStatus.NotFound, null, reason);

    public static TftpFileLookup Refused(string reason) => new(TftpFileStatus.Refused, null, reason);
}

/// <summary>
/// Content to send: a readable stream positioned at the start, and its length in octets (for the
/// RFC 2349 tsize option). The transfer owns and disposes it.
/// </summary>
public sealed class TftpFile : IDisposable
{
    private readonly Func<bool>? _isUnchanged;

    /// <param name="content">The bytes, read once from the start.</param>
    /// <param name="length">Length in octets.</param>
    /// <param name="isUnchanged">
    /// Optional check, run when the last block has been read, that the file was not modified in place
    /// during the transfer (size and modification time of the open handle). When it fails the
    /// transfer ends with an ERROR instead of completing with a mix of old and new bytes.
    /// </param>
    public TftpFile(Stream content, long length, Func<bool>? isUnchanged = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Content = content;
        Length = length;
        _isUnchanged = isUnchanged;
    }

    /// <summary>True unless the source can tell the content changed since it was opened.</summary>
    public bool IsUnchanged() => _isUnchanged?.Invoke() ?? true;

    public Stream Content { get; }

    public long Length { get; }

    public void Dispose() => Content.Dispose();
}
