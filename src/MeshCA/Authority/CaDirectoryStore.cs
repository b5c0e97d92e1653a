namespace Kldload.MeshCA.Authority;

/// <summary>
/// <see cref="ICaMaterialStore"/> as PEM files in one directory (0700), each 0600, written atomically:
/// <c>root.pem</c>, <c>root.key.pem</c> (only when the root was generated here and not moved
/// offline), <c>intermediate.pem</c>, <c>intermediate.key.pem</c> and <c>trust.pem</c>. The
/// intermediate certificate is written last: its presence marks a complete CA. One provisioner owns
/// the directory (the data directory lock), so no two writers race here.
/// </summary>
public sealed class CaDirectoryStore(string directory) : ICaMaterialStore
{
    /// <summary>The directory, normally <c>{Kldload:DataDir}/meshca</c>.</summary>
    public string Directory { get; } = directory;

    public string Location => Directory;

    /// <summary>True when the directory holds a complete CA (its intermediate certificate).</summary>
    public bool Exists => File.Exists(Path.Combine(Directory, MeshCertificateAuthority.IntermediateCertificateFile));

    public CaMaterial? Load()
    {
        if (!Exists)
        {
            return null;
        }

        return new CaMaterial
        {
            IntermediateCertificatePem = Read(MeshCertificateAuthority.IntermediateCertificateFile),
            IntermediateKeyPem = Read(MeshCertificateAuthority.IntermediateKeyFile),
            TrustedRootsPem = Read(MeshCertificateAuthority.TrustFile),
            RootCertificatePem = ReadIfExists(MeshCertificateAuthority.RootCertificateFile),
            RootKeyPem = ReadIfExists(MeshCertificateAuthority.RootKeyFile),
        };
    }

    public CaMaterial AddIfAbsent(CaMaterial material)
    {
        ArgumentNullException.ThrowIfNull(material);
        if (Load() is { } stored)
        {
            return stored;
        }

        SecureFiles.EnsureDirectory(Directory);
        // Keys first, certificate last: the intermediate certificate's presence marks a complete CA.
        if (material.RootKeyPem is { } rootKey)
        {
            Write(MeshCertificateAuthority.RootKeyFile, rootKey);
        }

        if (material.RootCertificatePem is { } root)
        {
            Write(MeshCertificateAuthority.RootCertificateFile, root);
        }

        Write(MeshCertificateAuthority.TrustFile, material.TrustedRootsPem);
        Write(MeshCertificateAuthority.IntermediateKeyFile, material.IntermediateKeyPem);
        Write(MeshCertificateAuthority.IntermediateCertificateFile, material.IntermediateCertificatePem);
        return material;
    }

    public void ReplaceIntermediate(string intermediateCertificatePem, string intermediateKeyPem, string trustedRootsPem)
    {
        SecureFiles.EnsureDirectory(Directory);
        Write(MeshCertificateAuthority.IntermediateKeyFile, intermediateKeyPem);
        Write(MeshCertificateAuthority.TrustFile, trustedRootsPem);
        Write(MeshCertificateAuthority.IntermediateCertificateFile, intermediateCertificatePem);
    }

    public void SaveTrustedRoots(string trustedRootsPem) => Write(MeshCertificateAuthority.TrustFile, trustedRootsPem);

    private void Write(string name, string pem) => SecureFiles.WriteAllText(Path.Combine(Directory, name), pem);

    private string Read(string name)
    {
        var path = Path.Combine(Directory, name);
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidDataException($"{path} is missing: the mesh CA in {Directory} is incomplete", e);
        }
    }

    private string? ReadIfExists(string name)
    {
        var path = Path.Combine(Directory, name);
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }
}
