namespace Kldload.Agent.Trust;

/// <summary>What the agent does with the CA a provisioner offers, given the pin in the TPM.</summary>
internal enum CaPinVerdict : byte
{
    /// <summary>The offered CA is the pinned one.</summary>
    Matches = 0,

    /// <summary>No pin yet: first enrolment, pin the offered CA (trust on first use).</summary>
    PinFirst = 1,

    /// <summary>A different CA and <c>kldload.repin=1</c>: replace the pin.</summary>
    Repin = 2,

    /// <summary>A different CA and no re-pin flag: refuse the provisioner.</summary>
    Refuse = 3,
}

/// <summary>The pin rule, with no TPM and no console: a pure function a test can enumerate.</summary>
internal static class CaPinDecision
{
    public static CaPinVerdict Decide(ReadOnlySpan<byte> pinned, bool hasPin, ReadOnlySpan<byte> offered, bool repinFlag) =>
        !hasPin ? CaPinVerdict.PinFirst
        : pinned.SequenceEqual(offered) ? CaPinVerdict.Matches
        : repinFlag ? CaPinVerdict.Repin
        : CaPinVerdict.Refuse;

    /// <summary><c>sha256:</c> and lower-case hex, as the console and the README print a pin.</summary>
    public static string Format(ReadOnlySpan<byte> sha256) => "sha256:" + Convert.ToHexStringLower(sha256);
}
