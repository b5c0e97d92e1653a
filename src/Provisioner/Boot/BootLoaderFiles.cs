using Kldload.Tftp.Files;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The boot loaders <see cref="LoaderEndpoints"/> serves over HTTP: the TFTP listener's file source
/// when <c>Tftp:Enabled</c>, else <see cref="Disabled"/>. Always registered, so the endpoint asks for
/// it instead of looking an optional service up.
/// </summary>
public sealed class BootLoaderFiles
{
    /// <summary>No files: TFTP is disabled.</summary>
    public static readonly BootLoaderFiles Disabled = new(null);

    private readonly ITftpFileSource? _source;

    /// <param name="source">The TFTP listener's files; null when TFTP is disabled.</param>
    public BootLoaderFiles(ITftpFileSource? source) => _source = source;

    /// <summary>False when TFTP is disabled: nothing is served.</summary>
    public bool Enabled => _source is not null;

    /// <summary>Opens <paramref name="name"/> as the TFTP listener would.</summary>
    /// <exception cref="InvalidOperationException">TFTP is disabled (check <see cref="Enabled"/> first).</exception>
    public TftpFileLookup Open(string name) =>
        (_source ?? throw new InvalidOperationException("TFTP is disabled: no boot loaders are served")).Open(name);
}
