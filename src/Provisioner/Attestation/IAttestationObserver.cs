namespace Kldload.Provisioner.Attestation;

/// <summary>
/// What attestation reports besides its answers: step outcomes, hardware changes between attested
/// boots and the time a node took to reach the mesh. The host turns them into metrics.
/// </summary>
public interface IAttestationObserver
{
    /// <summary>An attestation step ended with <paramref name="outcome"/> (ok, refused, quarantined...) for <paramref name="reason"/>.</summary>
    void StepEnded(string step, string outcome, string reason);

    /// <summary>One attested boot's facts differed from the last one's in <paramref name="part"/>.</summary>
    void HardwareChanged(string part);

    /// <summary>A node became Ready <paramref name="seconds"/> after its first DHCP packet (or script request).</summary>
    void ReachedMesh(double seconds);
}
