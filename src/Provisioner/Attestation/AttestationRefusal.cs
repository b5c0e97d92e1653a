namespace Kldload.Provisioner.Attestation;

/// <summary>
/// A refused attestation step: the step, a stable machine-readable reason and a sentence for the
/// operator. The endpoint layer alone turns it into an HTTP status (<see cref="AttestationEndpoints"/>).
/// </summary>
public sealed class AttestationRefusedException : Exception
{
    public AttestationRefusedException(string step, string reason, string message)
        : base(message)
    {
        Step = step;
        Reason = reason;
    }

    public AttestationRefusedException()
    {
        Step = Reason = string.Empty;
    }

    public AttestationRefusedException(string message)
        : base(message)
    {
        Step = Reason = string.Empty;
    }

    public AttestationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Step = Reason = string.Empty;
    }

    /// <summary><c>challenge</c>, <c>quote</c>, <c>activate</c> or <c>ready</c>.</summary>
    public string Step { get; }

    /// <summary>Stable reason name (<c>token-unknown</c>, <c>signature-invalid</c>, ...).</summary>
    public string Reason { get; }
}
