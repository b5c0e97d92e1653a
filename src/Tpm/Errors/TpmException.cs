using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Errors;

/// <summary>The TPM answered a command with an error response code.</summary>
public sealed class TpmException : Exception
{
    public TpmException(TpmCommandCode command, TpmResponseCode code)
        : base($"TPM2_{command} failed: {code}")
    {
        Command = command;
        Code = code;
    }

    public TpmException()
    {
    }

    public TpmException(string message)
        : base(message)
    {
    }

    public TpmException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public TpmCommandCode Command { get; }

    public TpmResponseCode Code { get; }

    /// <summary>The specification name of the code, e.g. TPM_RC_POLICY_FAIL.</summary>
    public string RcName => Code.Name;
}

/// <summary>Bytes from a TPM, a file or a peer do not form the expected structure.</summary>
public sealed class TpmFormatException : Exception
{
    public TpmFormatException(string structure, string problem)
        : base($"malformed {structure}: {problem}")
    {
        Structure = structure;
        Problem = problem;
    }

    public TpmFormatException()
    {
        Structure = Problem = string.Empty;
    }

    public TpmFormatException(string message)
        : base(message)
    {
        Structure = Problem = string.Empty;
    }

    public TpmFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        Structure = Problem = string.Empty;
    }

    public string Structure { get; }

    public string Problem { get; }
}

/// <summary>The transport to the TPM failed (device I/O, socket, or a framing error).</summary>
public sealed class TpmTransportException : Exception
{
    public TpmTransportException()
    {
    }

    public TpmTransportException(string message)
        : base(message)
    {
    }

    public TpmTransportException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
