using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Inventory;
using Kldload.Provisioner.Settings;

namespace Kldload.Provisioner.Attestation;

/// <summary>
/// Which inventory record an EK belongs to, and which enrollment policy applies to it. The identity
/// follows the TPM, never the MAC: before proof this is only read; after proof
/// (<see cref="ResolveProven"/>) a MAC moves only from a record that never attested.
/// </summary>
public sealed class NodeIdentities(NodeService nodes, BootPlanner planner, AttestationSettings settings, TimeProvider time)
{
    /// <summary>
    /// The record an EK would land on, read only: the node that already owns this EK, else the node
    /// the boot token was issued to if it has no EK yet, else none (new hardware gets a new record).
    /// </summary>
    public NodeRecord? Candidate(string tokenNodeId, string fingerprint)
    {
        var owner = nodes.Store.FindByEkFingerprint(fingerprint).FirstOrDefault(n => n.State != NodeState.Replaced);
        if (owner is not null)
        {
            return owner;
        }

        var tokenNode = nodes.Store.Get(tokenNodeId);
        return tokenNode is { EkFingerprint: null } ? tokenNode : null;
    }

    /// <summary>
    /// The enrollment policy for a node. A profile may always lower trust (to Approve); it may raise
    /// it (Auto, Lab) only when it matches on operator-set labels alone, because every other
    /// criterion (MAC, UUID, serial, option 82 of an unrelayed packet) is something the node says
    /// about itself.
    /// </summary>
    public EnrollmentPolicy PolicyFor(NodeRecord? node)
    {
        if (node is null || planner.MatchProfile(node) is not { } profile
            || !Enum.TryParse<EnrollmentPolicy>(profile.EnrollmentPolicy, out var wanted))
        {
            return settings.EnrollmentPolicy;
        }

        return Trust(wanted) <= Trust(settings.EnrollmentPolicy) || profile.Match.IsOperatorSetOnly ? wanted : settings.EnrollmentPolicy;
    }

    /// <summary>
    /// Whether this node's boot must show Secure Boot on: the matching profile's <c>requireSecureBoot</c>,
    /// else <c>Attestation:RequireSecureBoot</c>. A profile matching on facts may only turn it on.
    /// </summary>
    public bool RequireSecureBootFor(NodeRecord? node)
    {
        if (node is null || planner.MatchProfile(node) is not { RequireSecureBoot: { } wanted } profile)
        {
            return settings.RequireSecureBoot;
        }

        return wanted || profile.Match.IsOperatorSetOnly ? wanted : settings.RequireSecureBoot;
    }

    private static int Trust(EnrollmentPolicy policy) => policy switch
    {
        EnrollmentPolicy.Approve => 0,
        EnrollmentPolicy.Auto => 1,
        _ => 2,
    };

    /// <summary>
    /// The record a proven TPM belongs to. The TPM is proven, the MAC it booted behind is not: so a
    /// proven TPM may take a MAC only from a placeholder record (one that never attested), never from
    /// a node with a TPM of its own.
    /// </summary>
    public NodeRecord ResolveProven(string tokenNodeId, string mac, string fingerprint)
    {
        var tokenNode = nodes.Store.Get(tokenNodeId)!;
        var owner = nodes.Store.FindByEkFingerprint(fingerprint).FirstOrDefault(n => n.State != NodeState.Replaced);
        if (owner is not null)
        {
            if (owner.Id != tokenNode.Id)
            {
                nodes.Update(owner.Id, NodeEventKind.Attestation, $"its TPM (proven) booted behind {mac}", "node", n =>
                {
                    if (!n.Macs.Contains(mac))
                    {
                        n.Macs.Add(mac);
                    }

                    n.BootStartedAt = tokenNode.BootStartedAt;
                    n.LastBootedKernelDigest = tokenNode.LastBootedKernelDigest;
                    n.LastBootedImage = tokenNode.LastBootedImage;
                    n.LastSeenAt = time.GetUtcNow().UtcDateTime;
                });
                if (tokenNode.EkFingerprint is null)
                {
                    nodes.Update(tokenNode.Id, NodeEventKind.Attestation, $"{mac} belongs to node {owner.Id} (its TPM proved it)", "node", n => n.Macs.Remove(mac));
                }
            }

            return nodes.Store.Get(owner.Id)!;
        }

        if (tokenNode.EkFingerprint is null || tokenNode.EkFingerprint == fingerprint)
        {
            return tokenNode;
        }

        // Same MAC, another proven TPM: new hardware. It gets its own record; the old record is not
        // touched, and an operator decides (approve, or replace to carry on the old identity).
        return nodes.RecordNewHardware(tokenNode, mac);
    }
}
