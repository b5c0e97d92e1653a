using System.Security.Cryptography;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// The RAKP key exchange arithmetic (IPMI 2.0 sections 13.20-13.32): the codes RAKP 2, 3 and 4 carry
/// and the session keys. Subscript m is the remote console (kldload), c the managed system (the BMC),
/// as in the specification. Session IDs enter the hashes in their wire (little-endian) byte order.
/// </summary>
public sealed class RakpKeyExchange
{
    /// <summary>The user key length: passwords are zero-padded to 20 bytes (IPMI 2.0 section 13.31).</summary>
    public const int UserKeyLength = 20;

    private static readonly byte[] Const1 = Enumerable.Repeat((byte)0x01, 20).ToArray();
    private static readonly byte[] Const2 = Enumerable.Repeat((byte)0x02, 20).ToArray();

    private readonly byte[] _userKey;
    private readonly byte[] _generationKey;

    /// <param name="suite">The negotiated cipher suite.</param>
    /// <param name="password">The user's password, up to 20 bytes (Kuid).</param>
    /// <param name="bmcKey">The BMC key Kg; when absent the user key stands in (section 13.31, "one-key logins").</param>
    public RakpKeyExchange(CipherSuite suite, ReadOnlySpan<byte> password, ReadOnlySpan<byte> bmcKey = default)
    {
        if (password.Length > UserKeyLength)
        {
            throw new ArgumentException("an IPMI 2.0 password is at most 20 bytes", nameof(password));
        }

        Suite = suite;
        _userKey = new byte[UserKeyLength];
        password.CopyTo(_userKey);
        _generationKey = bmcKey.IsEmpty ? _userKey : bmcKey.ToArray();
    }

    public CipherSuite Suite { get; }

    /// <summary>The role byte as sent in RAKP 1: the privilege, plus bit 4 for a name-only user lookup.</summary>
    public static byte RoleByte(IpmiPrivilege privilege, bool nameOnlyLookup = true) =>
        (byte)((byte)privilege | (nameOnlyLookup ? 0x10 : 0x00));

    /// <summary>
    /// The code the BMC must send in RAKP 2: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm).
    /// </summary>
    public byte[] Rakp2Code(uint consoleSessionId, uint bmcSessionId, ReadOnlySpan<byte> consoleRandom, ReadOnlySpan<byte> bmcRandom, ReadOnlySpan<byte> bmcGuid, byte role, ReadOnlySpan<byte> userName)
    {
        var data = new byte[4 + 4 + 16 + 16 + 16 + 1 + 1 + userName.Length];
        var w = new SpanWriter(data);
        w.UInt32LittleEndian(consoleSessionId);
        w.UInt32LittleEndian(bmcSessionId);
        w.Bytes(consoleRandom);
        w.Bytes(bmcRandom);
        w.Bytes(bmcGuid);
        w.Byte(role);
        w.Byte((byte)userName.Length);
        w.Bytes(userName);
        return Suite.AuthenticationHmac(_userKey, data);
    }

    /// <summary>The code kldload sends in RAKP 3: HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).</summary>
    public byte[] Rakp3Code(ReadOnlySpan<byte> bmcRandom, uint consoleSessionId, byte role, ReadOnlySpan<byte> userName)
    {
        var data = new byte[16 + 4 + 1 + 1 + userName.Length];
        var w = new SpanWriter(data);
        w.Bytes(bmcRandom);
        w.UInt32LittleEndian(consoleSessionId);
        w.Byte(role);
        w.Byte((byte)userName.Length);
        w.Bytes(userName);
        return Suite.AuthenticationHmac(_userKey, data);
    }

    /// <summary>The session integrity key: SIK = HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm).</summary>
    public byte[] SessionIntegrityKey(ReadOnlySpan<byte> consoleRandom, ReadOnlySpan<byte> bmcRandom, byte role, ReadOnlySpan<byte> userName)
    {
        var data = new byte[16 + 16 + 1 + 1 + userName.Length];
        var w = new SpanWriter(data);
        w.Bytes(consoleRandom);
        w.Bytes(bmcRandom);
        w.Byte(role);
        w.Byte((byte)userName.Length);
        w.Bytes(userName);
        return Suite.AuthenticationHmac(_generationKey, data);
    }

    /// <summary>K1 = HMAC_SIK(twenty 0x01 bytes): the integrity key (section 13.32).</summary>
    public byte[] K1(ReadOnlySpan<byte> sik) => Suite.AuthenticationHmac(sik, Const1);

    /// <summary>K2 = HMAC_SIK(twenty 0x02 bytes): its first 16 bytes are the AES-CBC-128 key (section 13.32).</summary>
    public byte[] K2(ReadOnlySpan<byte> sik) => Suite.AuthenticationHmac(sik, Const2);

    /// <summary>
    /// The integrity check value the BMC must send in RAKP 4: HMAC_SIK(Rm, SIDc, GUIDc), truncated to
    /// 12 bytes (SHA-1) or 16 bytes (SHA-256).
    /// </summary>
    public byte[] Rakp4Icv(ReadOnlySpan<byte> sik, ReadOnlySpan<byte> consoleRandom, uint bmcSessionId, ReadOnlySpan<byte> bmcGuid)
    {
        var data = new byte[16 + 4 + 16];
        var w = new SpanWriter(data);
        w.Bytes(consoleRandom);
        w.UInt32LittleEndian(bmcSessionId);
        w.Bytes(bmcGuid);
        return Suite.AuthenticationHmac(sik, data)[..Suite.Rakp4IcvLength];
    }

    /// <summary>Constant-time comparison of a received code with the expected one.</summary>
    public static bool CodesMatch(ReadOnlySpan<byte> received, ReadOnlySpan<byte> expected) =>
        received.Length == expected.Length && CryptographicOperations.FixedTimeEquals(received, expected);
}
