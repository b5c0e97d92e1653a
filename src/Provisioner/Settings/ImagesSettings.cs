namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Images</c> section: the image store under <c>{Kldload:DataDir}/images</c>.</summary>
public sealed record ImagesSettings
{
    /// <summary>The image store directory: <c>{Kldload:DataDir}/images</c> (blobs, staging).</summary>
    public required string Root { get; init; }

    /// <summary>
    /// <c>Images:TrustedKeysDir</c>: PEM public keys (<c>*.pub</c>, <c>*.pem</c>; Ed25519 or ECDSA
    /// P-256) whose signatures make a bundle importable. Default <c>{DataDir}/images/trusted-keys</c>.
    /// </summary>
    public required string TrustedKeysDir { get; init; }

    internal static ImagesSettings Read(SettingsReader r, KldloadSettings kldload)
    {
        var root = Path.Combine(kldload.DataDir, "images");
        var keys = r.OptionalString("Images:TrustedKeysDir");
        return new ImagesSettings
        {
            Root = root,
            TrustedKeysDir = Path.GetFullPath(keys ?? Path.Combine(root, "trusted-keys")),
        };
    }
}
