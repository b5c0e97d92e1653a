using Kldload.Bmc.Ipmi.Protocol;

namespace Kldload.Bmc.Ipmi;

/// <summary>How kldload reaches one BMC over IPMI 2.0 LAN (RMCP+).</summary>
public sealed record IpmiLanOptions
{
    public const int DefaultPort = 623;

    public required string Host { get; init; }

    public int Port { get; init; } = DefaultPort;

    public required string User { get; init; }

    public required string Password { get; init; }

    /// <summary>The privilege the session asks for: power control needs Operator, boot options Operator.</summary>
    public IpmiPrivilege Privilege { get; init; } = IpmiPrivilege.Administrator;

    /// <summary>Cipher suites offered, in order; the next is tried when the BMC refuses one.</summary>
    public IReadOnlyList<CipherSuite> CipherSuites { get; init; } = CipherSuite.Preferred;

    /// <summary>How long the first attempt of a request waits for its answer; each retry waits twice as long.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts per request (the first and its retries).</summary>
    public int Attempts { get; init; } = 3;

    public override string ToString() => $"{Host}:{Port}";
}
