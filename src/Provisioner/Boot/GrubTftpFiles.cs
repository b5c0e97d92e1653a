using System.Text;
using Kldload.ImageStore;
using Kldload.Provisioner.Inventory;
using Kldload.Tftp.Files;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// The TFTP files of the signed loader path after GRUB (<see cref="GrubConfig"/>): <c>grub/grub.cfg</c>
/// (the same for every node), <c>grub/node/MAC.cfg</c> (the node's own configuration, made by
/// <see cref="BootScripts"/> like <c>/boot.ipxe</c>: the request records the boot and issues its token),
/// and <c>images/DIGEST</c> (a kernel or initrd from the image store, as <c>/images/DIGEST</c> over HTTP).
/// Debian's signed GRUB can fetch nothing over HTTP, so these come over TFTP.
/// </summary>
public sealed class GrubTftpFiles(BootScripts scripts, ServerUrl serverUrl, LiveImageStore images) : ITftpFileSource
{
    private const string ImagesFolder = "images/";

    public TftpFileLookup Open(string requestedName)
    {
        var name = TftpFileName.Normalize(requestedName, out var refusal);
        if (name is null)
        {
            return TftpFileLookup.Refused(refusal!);
        }

        if (name == GrubConfig.TftpPath)
        {
            return Text(GrubConfig.Bootstrap());
        }

        if (name.StartsWith(GrubConfig.NodeFolder, StringComparison.Ordinal) && name.EndsWith(".cfg", StringComparison.Ordinal))
        {
            return NodeConfiguration(name[GrubConfig.NodeFolder.Length..^".cfg".Length]);
        }

        if (name.StartsWith(ImagesFolder, StringComparison.Ordinal))
        {
            return Sha256Digest.TryParse(name[ImagesFolder.Length..], out var digest) && images.Blobs.Contains(digest.Value)
                ? MappedFileSource.OpenRegularFile(images.Blobs.PathOf(digest.Value))
                : TftpFileLookup.NotFound("no image file with that digest (64 lowercase hex characters)");
        }

        return TftpFileLookup.NotFound("not a file of the GRUB path");
    }

    private TftpFileLookup NodeConfiguration(string macText)
    {
        if (NodeService.NormaliseMac(macText) is not { } mac)
        {
            return TftpFileLookup.NotFound($"'{macText}' is not a MAC address: GRUB asks for grub/node/MAC.cfg");
        }

        var server = serverUrl.Value;
        var facts = new BootFacts(mac, null, null, null, null, null, "efi");
        var result = scripts.Serve(facts, null, "GRUB configuration", "grub",
            (node, plan, image, token) =>
            {
                var boot = new GrubBoot(node.Id, node.Name, image.Name, image.Version, image.KernelDigest, image.InitrdDigest,
                    BootScripts.CommandLine(node, plan, image), token.Token, plan.Explanation);
                return (GrubConfig.Boot(server, boot), GrubConfig.LoadOptions(server, boot));
            },
            (node, plan) => GrubConfig.NoImage(mac, node.Id, node.Name, plan.Explanation));
        return result.Script is { } text ? Text(text) : TftpFileLookup.NotFound($"{result.Title}: {result.Problem}");
    }

    private static TftpFileLookup Text(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return TftpFileLookup.Found(new TftpFile(new MemoryStream(bytes, writable: false), bytes.Length));
    }
}
