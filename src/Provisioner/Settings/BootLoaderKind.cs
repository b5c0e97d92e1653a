namespace Kldload.Provisioner.Settings;

/// <summary>
/// Which loader chain a UEFI node starts (<c>Boot:Loader</c>, and per profile): iPXE (Debian's
/// binaries are not signed, so firmware with Secure Boot on refuses them), or the distribution's
/// signed chain shim → GRUB → signed kernel, which stock Secure Boot firmware accepts.
/// </summary>
public enum BootLoaderKind : byte
{
    /// <summary>iPXE from <c>Boot:Loaders</c> (as before; the default).</summary>
    Ipxe = 0,

    /// <summary>Debian's shim-signed and grub-efi-amd64-signed: <c>shimx64.efi</c> → <c>grubx64.efi</c> → <c>/boot.grub</c>.</summary>
    Grub = 1,
}
