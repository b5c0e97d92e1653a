using Kldload.Contracts;

namespace Kldload.Agent.Trust;

/// <summary>
/// The provisioner's mesh CA is not the one pinned in the TPM and no re-pin was asked for: the node
/// refuses the provisioner. Carries both hashes for the console.
/// </summary>
internal sealed class CaPinMismatchException(byte[] pinned, byte[] offered, string offeredSubject, string location)
    : Exception($"the provisioner's mesh CA {CaPinDecision.Format(offered)} ({offeredSubject}) is not the CA pinned in {location}, {CaPinDecision.Format(pinned)}")
{
    public byte[] Pinned { get; } = pinned;

    public byte[] Offered { get; } = offered;
}

/// <summary>
/// The node trusts only its provisioner: verifies an activate answer (<see cref="ActivationVerifier"/>),
/// then holds the root that vouched for it against the pin: pins it on first enrolment, accepts it when
/// it matches, replaces the pin only with <c>kldload.repin=1</c>, and refuses it otherwise.
/// </summary>
internal sealed class ProvisionerTrust(ICaPinStore pins, bool repin, TimeProvider time, Action<string> say)
{
    /// <summary>Prints the pin the node boots with; a foreign index without the re-pin flag is refused.</summary>
    public void Announce()
    {
        byte[]? pinned;
        try
        {
            pinned = pins.Read();
        }
        catch (CaPinException e) when (repin)
        {
            say($"ca pin: {e.Message}; kldload.repin=1 will replace it");
            return;
        }

        say(pinned is null
            ? $"ca pin: none in {pins.Location}: this first enrolment trusts the provisioner that answers and pins its mesh CA"
            : $"ca pin: {CaPinDecision.Format(pinned)} in {pins.Location}{(repin ? " (kldload.repin=1: a different CA will replace it)" : string.Empty)}");
    }

    /// <summary>
    /// Verifies <paramref name="activation"/> and applies the pin rule. Throws
    /// <see cref="ProvisionerUntrustedException"/>, <see cref="CaPinMismatchException"/> or
    /// <see cref="CaPinException"/>; the caller applies nothing then.
    /// </summary>
    public VerifiedActivation Accept(ActivateResponse activation, byte[] wireGuardPublicKey, uint keyEpoch)
    {
        var verified = ActivationVerifier.Verify(activation, wireGuardPublicKey, keyEpoch, time);
        byte[]? pinned;
        bool hasPin;
        try
        {
            pinned = pins.Read();
            hasPin = pinned is not null;
        }
        catch (CaPinException) when (repin)
        {
            pinned = null;
            hasPin = true; // something else holds the index: only a re-pin may replace it
        }

        var offered = verified.CaKeySha256;
        switch (CaPinDecision.Decide(pinned, hasPin, offered, repin))
        {
            case CaPinVerdict.Matches:
                say($"ca pin: mesh CA {CaPinDecision.Format(offered)} matches the pin");
                break;
            case CaPinVerdict.PinFirst:
                pins.Write(offered);
                say($"ca pin: first enrolment: pinned mesh CA {CaPinDecision.Format(offered)} ({verified.CaSubject}) in {pins.Location}; later boots refuse any other CA");
                break;
            case CaPinVerdict.Repin:
                pins.Write(offered);
                say($"ca pin: re-pinned (kldload.repin=1): {(pinned is null ? "unreadable pin" : CaPinDecision.Format(pinned))} replaced by {CaPinDecision.Format(offered)} ({verified.CaSubject}) in {pins.Location}");
                break;
            default:
                throw new CaPinMismatchException(pinned!, offered, verified.CaSubject, pins.Location);
        }

        return verified;
    }
}
