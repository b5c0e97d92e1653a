using System.Security.Cryptography;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// An RMCP+ cipher suite (IPMI 2.0 table 22-20, suite 17 from DCMI 1.1 / errata): the RAKP
/// authentication, the per-packet integrity and the confidentiality algorithm a session uses.
/// </summary>
public sealed record CipherSuite(
    byte Id,
    IpmiAuthenticationAlgorithm Authentication,
    IpmiIntegrityAlgorithm Integrity,
    IpmiConfidentialityAlgorithm Confidentiality)
{
    /// <summary>Suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128; what current BMCs default to.</summary>
    public static readonly CipherSuite Suite17 = new(17, IpmiAuthenticationAlgorithm.HmacSha256, IpmiIntegrityAlgorithm.HmacSha256_128, IpmiConfidentialityAlgorithm.AesCbc128);

    /// <summary>Suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128; what every IPMI 2.0 BMC accepts.</summary>
    public static readonly CipherSuite Suite3 = new(3, IpmiAuthenticationAlgorithm.HmacSha1, IpmiIntegrityAlgorithm.HmacSha1_96, IpmiConfidentialityAlgorithm.AesCbc128);

    /// <summary>The order kldload offers them in: 17 first, 3 when the BMC refuses 17.</summary>
    public static readonly IReadOnlyList<CipherSuite> Preferred = [Suite17, Suite3];

    /// <summary>The length of the RAKP keyed hash (and of SIK, K1, K2): 20 for SHA-1, 32 for SHA-256.</summary>
    public int AuthenticationLength => Authentication == IpmiAuthenticationAlgorithm.HmacSha256 ? 32 : 20;

    /// <summary>The RAKP 4 integrity check value length (IPMI 2.0 section 13.31): the integrity algorithm's truncation.</summary>
    public int Rakp4IcvLength => Authentication == IpmiAuthenticationAlgorithm.HmacSha256 ? 16 : 12;

    /// <summary>The AuthCode length at the end of each authenticated packet: 12 (SHA1-96) or 16 (SHA256-128).</summary>
    public int IntegrityLength => Integrity switch
    {
        IpmiIntegrityAlgorithm.HmacSha1_96 => 12,
        IpmiIntegrityAlgorithm.HmacSha256_128 => 16,
        IpmiIntegrityAlgorithm.None => 0,
        _ => throw new NotSupportedException($"integrity algorithm {Integrity}"),
    };

    /// <summary>The RAKP keyed hash (HMAC with the suite's authentication digest).</summary>
    public byte[] AuthenticationHmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) => Authentication switch
    {
        IpmiAuthenticationAlgorithm.HmacSha1 => HMACSHA1.HashData(key, data),
        IpmiAuthenticationAlgorithm.HmacSha256 => HMACSHA256.HashData(key, data),
        _ => throw new NotSupportedException($"authentication algorithm {Authentication}"),
    };

    /// <summary>The per-packet integrity HMAC, untruncated.</summary>
    public byte[] IntegrityHmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) => Integrity switch
    {
        IpmiIntegrityAlgorithm.HmacSha1_96 => HMACSHA1.HashData(key, data),
        IpmiIntegrityAlgorithm.HmacSha256_128 => HMACSHA256.HashData(key, data),
        _ => throw new NotSupportedException($"integrity algorithm {Integrity}"),
    };
}
