namespace Kldload.Tftp.Files;

/// <summary>Asks each source in order; the first that finds or refuses the name answers.</summary>
public sealed class CompositeFileSource(params ITftpFileSource[] sources) : ITftpFileSource
{
    public TftpFileLookup Open(string requestedName)
    {
        var last = TftpFileLookup.NotFound("no file source");
        foreach (var source in sources)
        {
            last = source.Open(requestedName);
            if (last.Status != TftpFileStatus.NotFound)
            {
                return last;
            }
        }

        return last;
    }
}
