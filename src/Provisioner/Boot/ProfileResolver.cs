using System.Text.Json;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Boot;

/// <summary>What one boot of one node should run, and why.</summary>
public sealed record BootPlan(BootImage? Image, Profile? Profile, string? Channel, string KernelArgs, string Explanation);

/// <summary>
/// Decides what a node boots. Order: an image pinned on the node, the node's own channel, the best
/// matching profile (highest priority, then name), then <c>Boot:DefaultChannel</c>. Facts reach kldload
/// only in the quote, after the script: a profile's facts criteria see the bound facts of the node's
/// last attested boot, so they steer the boot after the one that reported them.
/// </summary>
public sealed class BootPlanner(IProfileStore profiles, IBootImageSource images, BootSettings settings)
{
    /// <summary>The profile that matches a node, or null.</summary>
    public Profile? MatchProfile(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return profiles.List().FirstOrDefault(p => Matches(p.Match, node));
    }

    public BootPlan Plan(NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var profile = MatchProfile(node);
        var args = profile?.KernelArgs ?? string.Empty;

        if (node.PinnedImage is { } pinned)
        {
            return new BootPlan(images.Resolve(pinned.Name, pinned.Version), profile, null, args, $"image {pinned} pinned on the node");
        }

        if (node.Channel is { } nodeChannel)
        {
            return new BootPlan(images.ResolveChannel(nodeChannel), profile, nodeChannel, args, $"channel {nodeChannel} assigned to the node");
        }

        if (profile?.Image is { } profileImage)
        {
            return new BootPlan(images.Resolve(profileImage.Name, profileImage.Version), profile, null, args, $"image {profileImage} of profile {profile.Name}");
        }

        if (profile?.Channel is { } profileChannel)
        {
            return new BootPlan(images.ResolveChannel(profileChannel), profile, profileChannel, args, $"channel {profileChannel} of profile {profile.Name}");
        }

        if (settings.DefaultChannel is { } defaultChannel)
        {
            return new BootPlan(images.ResolveChannel(defaultChannel), profile, defaultChannel, args, $"default channel {defaultChannel} (Boot:DefaultChannel)");
        }

        return new BootPlan(null, profile, null, args, "no image assigned: no pinned image, channel or matching profile, and Boot:DefaultChannel is empty");
    }

    /// <summary>Every non-empty criterion must match; a profile without criteria matches nothing.</summary>
    public static bool Matches(ProfileMatch match, NodeRecord node)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(node);
        if (match.IsEmpty)
        {
            return false;
        }

        static bool Any(List<string> wanted, string? value) =>
            wanted.Count == 0 || (value is not null && wanted.Any(w => string.Equals(w, value, StringComparison.OrdinalIgnoreCase)));

        return (match.Macs.Count == 0 || node.Macs.Any(m => match.Macs.Any(w => string.Equals(NodeService.NormaliseMac(w), m, StringComparison.Ordinal))))
            && Any(match.Uuids, node.Uuid)
            && Any(match.Serials, node.Serial)
            && Any(match.CircuitIds, node.Location?.CircuitId)
            && Any(match.RemoteIds, node.Location?.RemoteId)
            && match.Labels.All(l => node.Labels.TryGetValue(l.Key, out var v) && v == l.Value)
            && MatchesFacts(match.Facts, node);
    }

    /// <summary>Every facts expression holds on the node's bound facts; unbound or absent facts match no expression.</summary>
    private static bool MatchesFacts(List<string> expressions, NodeRecord node)
    {
        if (expressions.Count == 0)
        {
            return true;
        }

        if (!node.HardwareFactsBound || node.HardwareFacts is null)
        {
            return false;
        }

        using var facts = JsonDocument.Parse(node.HardwareFacts);
        foreach (var text in expressions)
        {
            FactsExpression expression;
            try
            {
                expression = FactsExpression.Parse(text);
            }
            catch (FactsExpressionException)
            {
                return false; // refused when the profile was saved; a stored one that no longer parses matches nothing
            }

            if (!expression.Matches(facts.RootElement))
            {
                return false;
            }
        }

        return true;
    }
}
