using Kldload.ImageStore;

namespace Kldload.Provisioner.Inventory;

/// <summary>
/// What the inventory still needs from the image store, so garbage collection keeps it: images
/// pinned on nodes or profiles, and every node's last-booted image (its next boot may need it again).
/// </summary>
public sealed class InventoryImageReferences(INodeStore nodes, IProfileStore profiles) : IImageReferenceSource
{
    public string Description => "pinned on nodes or profiles, or last booted by a node";

    public IEnumerable<ImageKey> GetReferencedImages()
    {
        foreach (var n in nodes.List())
        {
            if (n.PinnedImage is { } pinned)
            {
                yield return new ImageKey(pinned.Name, pinned.Version);
            }

            if (n.LastBootedImage is { } booted)
            {
                yield return new ImageKey(booted.Name, booted.Version);
            }
        }

        foreach (var p in profiles.List())
        {
            if (p.Image is { } image)
            {
                yield return new ImageKey(image.Name, image.Version);
            }
        }
    }
}
