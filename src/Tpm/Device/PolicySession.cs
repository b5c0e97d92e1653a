using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>
/// A policy session that is flushed when disposed, whether or not a command consumed it: a failed
/// command leaves the session loaded, and swtpm or /dev/tpm0 have only three session slots.
/// </summary>
public sealed class PolicySession : IDisposable
{
    private readonly Tpm2 _tpm;

    private PolicySession(Tpm2 tpm, uint handle)
    {
        _tpm = tpm;
        Handle = handle;
    }

    public uint Handle { get; }

    /// <summary>The authorization that uses this session once (continueSession clear).</summary>
    public TpmAuth Auth => TpmAuth.Policy(Handle);

    /// <summary>Starts a policy session.</summary>
    public static PolicySession Start(Tpm2 tpm, TpmAlgId hash = TpmAlgId.Sha256) => new(tpm, tpm.StartAuthSession(TpmSessionType.Policy, hash));

    /// <summary>A session satisfying PolicySecret(TPM_RH_ENDORSEMENT): PolicyA, the low-range EK policy.</summary>
    public static PolicySession Endorsement(Tpm2 tpm, TpmAlgId hash = TpmAlgId.Sha256, TpmAuth? endorsementAuth = null)
    {
        var session = Start(tpm, hash);
        try
        {
            tpm.PolicySecret(TpmHandles.Endorsement, session.Handle, endorsementAuth);
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public void Dispose() => _tpm.TryFlushContext(Handle);
}
