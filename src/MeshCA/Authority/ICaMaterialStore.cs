namespace Kldload.MeshCA.Authority;

/// <summary>
/// The CA's certificates and private keys as PEM text: what <see cref="ICaMaterialStore"/> keeps.
/// Certificates are public; the keys are secrets the store must keep private (files 0600, or sealed).
/// </summary>
public sealed record CaMaterial
{
    /// <summary>The issuing intermediate certificate.</summary>
    public required string IntermediateCertificatePem { get; init; }

    /// <summary>The intermediate's PKCS#8 private key.</summary>
    public required string IntermediateKeyPem { get; init; }

    /// <summary>Every trusted root, oldest first (several during a rotation).</summary>
    public required string TrustedRootsPem { get; init; }

    /// <summary>The root this CA was created with; null when the intermediate was imported.</summary>
    public string? RootCertificatePem { get; init; }

    /// <summary>The root's private key, only when the root was generated here and not moved offline.</summary>
    public string? RootKeyPem { get; init; }
}

/// <summary>
/// Where <see cref="MeshCertificateAuthority"/> keeps its material: a directory of PEM files
/// (<see cref="CaDirectoryStore"/>, one provisioner) or a database shared by several provisioners, which
/// must never hold the private keys in clear. The authority does not know which.
/// </summary>
public interface ICaMaterialStore
{
    /// <summary>Where the material is, for messages: a directory, or a table in a database.</summary>
    string Location { get; }

    /// <summary>The stored CA, or null when none has been stored yet.</summary>
    /// <exception cref="InvalidDataException">The stored material is unreadable (names what is broken).</exception>
    /// <exception cref="CaKeyFileException">The stored keys are sealed under a key this instance does not have.</exception>
    CaMaterial? Load();

    /// <summary>
    /// Stores <paramref name="material"/> unless a CA is already stored, and returns the CA stored
    /// afterwards: <paramref name="material"/>, or the one another provisioner stored first. Two
    /// provisioners creating a CA at once on one store therefore both use the same CA.
    /// </summary>
    CaMaterial AddIfAbsent(CaMaterial material);

    /// <summary>Replaces the intermediate, its key and the trusted roots (an import); the root entries are left as they are.</summary>
    void ReplaceIntermediate(string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem);

    /// <summary>Replaces the list of trusted roots.</summary>
    void SaveTrustedRoots(string trustedRootsPem);
}
