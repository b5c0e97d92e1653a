using System.Net;

namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Tftp</c> section: the TFTP listener that serves boot loaders.</summary>
public sealed record TftpSettings
{
    /// <summary>RFC 2348: blksize is 8 to 65464 octets.</summary>
    public const int MaxProtocolBlockSize = 65464;

    /// <summary>RFC 7440: windowsize is 1 to 65535 blocks.</summary>
    public const int MaxProtocolWindowSize = 65535;

    public bool Enabled { get; init; } = true;

    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Any, 69);

    /// <summary>Debian's ipxe package puts its loaders here.</summary>
    public const string DefaultRoot = "/usr/lib/ipxe";

    public string Root { get; init; } = DefaultRoot;

    /// <summary>True when <see cref="Root"/> is missing: only generated files can be served then.</summary>
    public bool RootMissing { get; init; }

    public int MaxSessions { get; init; } = 500;

    /// <summary>Initial retransmission timeout; it then follows the measured round trip.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(500);

    public int Retries { get; init; } = 6;

    public int MaxBlockSize { get; init; } = 1468;

    public int MaxWindowSize { get; init; } = 16;

    internal static TftpSettings Read(SettingsReader r)
    {
        var s = new TftpSettings
        {
            Enabled = r.Bool("Tftp:Enabled", true),
            Endpoint = r.Endpoint("Tftp:Endpoint", new IPEndPoint(IPAddress.Any, 69)),
            Root = Path.GetFullPath(r.String("Tftp:Root", DefaultRoot)),
            MaxSessions = r.Int("Tftp:MaxSessions", 500, 1, 100_000),
            Timeout = r.Duration("Tftp:Timeout", TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(255)),
            Retries = r.Int("Tftp:Retries", 6, 0, 100),
            MaxBlockSize = r.Int("Tftp:MaxBlockSize", 1468, 8, MaxProtocolBlockSize),
            MaxWindowSize = r.Int("Tftp:MaxWindowSize", 16, 1, MaxProtocolWindowSize),
        };

        // An operator's own root must exist; the default may be missing on a machine without the
        // ipxe package, and the host then warns instead of refusing to start.
        var explicitRoot = r.Raw("Tftp:Root") is not null;
        if (s.Enabled && !Directory.Exists(s.Root))
        {
            if (explicitRoot)
            {
                r.AddError("Tftp:Root", s.Root, "allowed: an existing directory of boot loaders (Debian's ipxe package installs /usr/lib/ipxe); or set Tftp:Enabled=false");
            }
            else
            {
                s = s with { RootMissing = true };
            }
        }

        return s;
    }
}
