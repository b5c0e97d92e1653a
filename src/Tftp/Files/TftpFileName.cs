namespace Kldload.Tftp.Files;

/// <summary>Rules every source applies to a requested name before looking it up.</summary>
public static class TftpFileName
{
    /// <summary>
    /// Strips one leading <c>/</c> (PXE ROMs often send one) and refuses names that could escape a
    /// root or confuse a log: NUL and other control bytes, backslashes, <c>..</c> components, and
    /// names that are still absolute after the strip. Returns the relative name, or null with a reason.
    /// </summary>
    public static string? Normalize(string requestedName, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(requestedName);
        foreach (var c in requestedName)
        {
            if (c < ' ' || c == '\u007f')
            {
                refusal = "control byte in file name";
                return null;
            }

            if (c == '\\')
            {
                refusal = "backslash in file name";
                return null;
            }
        }

        var name = requestedName.StartsWith('/') ? requestedName[1..] : requestedName;
        if (name.StartsWith('/'))
        {
            refusal = "absolute path outside the root";
            return null;
        }

        foreach (var part in name.Split('/'))
        {
            if (part == "..")
            {
                refusal = "'..' in file name";
                return null;
            }
        }

        if (name.Length == 0)
        {
            refusal = "empty file name";
            return null;
        }

        refusal = null;
        return name;
    }
}
