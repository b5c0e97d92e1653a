namespace Kldload.Tpm.Structures;

/// <summary>TPM_ALG_ID values used by kldload (TPM 2.0 Part 2, table 9; TCG Algorithm Registry).</summary>
public enum TpmAlgId : ushort
{
    Error = 0x0000,
    Rsa = 0x0001,
    Sha1 = 0x0004,
    Hmac = 0x0005,
    Aes = 0x0006,
    KeyedHash = 0x0008,
    Xor = 0x000A,
    Sha256 = 0x000B,
    Sha384 = 0x000C,
    Sha512 = 0x000D,
    Null = 0x0010,
    RsaSsa = 0x0014,
    RsaEs = 0x0015,
    RsaPss = 0x0016,
    Oaep = 0x0017,
    EcDsa = 0x0018,
    EcDh = 0x0019,
    EcDaa = 0x001A,
    EcSchnorr = 0x001C,
    Kdf1Sp800_56A = 0x0020,
    Kdf1Sp800_108 = 0x0022,
    Ecc = 0x0023,
    SymCipher = 0x0025,
    Ctr = 0x0040,
    Ofb = 0x0041,
    Cbc = 0x0042,
    Cfb = 0x0043,
    Ecb = 0x0044,
}

/// <summary>TPM_ECC_CURVE values (TPM 2.0 Part 2, table 10).</summary>
public enum TpmEccCurve : ushort
{
    None = 0x0000,
    NistP256 = 0x0003,
    NistP384 = 0x0004,
    NistP521 = 0x0005,
}

/// <summary>TPM_ST structure tags (TPM 2.0 Part 2, table 19).</summary>
public enum TpmSt : ushort
{
    RspCommand = 0x00C4,
    Null = 0x8000,
    NoSessions = 0x8001,
    Sessions = 0x8002,
    AttestNv = 0x8014,
    AttestCommandAudit = 0x8015,
    AttestSessionAudit = 0x8016,
    AttestCertify = 0x8017,
    AttestQuote = 0x8018,
    AttestTime = 0x8019,
    AttestCreation = 0x801A,
    Creation = 0x8021,
    Verified = 0x8022,
    AuthSecret = 0x8023,
    HashCheck = 0x8024,
    AuthSigned = 0x8025,
}

/// <summary>TPM_SU startup types (TPM 2.0 Part 2, table 20).</summary>
public enum TpmStartupType : ushort
{
    Clear = 0x0000,
    State = 0x0001,
}

/// <summary>TPM_SE session types (TPM 2.0 Part 2, table 21).</summary>
public enum TpmSessionType : byte
{
    Hmac = 0x00,
    Policy = 0x01,
    Trial = 0x03,
}

/// <summary>TPM_CAP capability groups (TPM 2.0 Part 2, table 22).</summary>
public enum TpmCapability : uint
{
    Algs = 0x00000000,
    Handles = 0x00000001,
    Commands = 0x00000002,
    PpCommands = 0x00000003,
    AuditCommands = 0x00000004,
    Pcrs = 0x00000005,
    TpmProperties = 0x00000006,
    PcrProperties = 0x00000007,
    EccCurves = 0x00000008,
}

/// <summary>TPMA_OBJECT bits (TPM 2.0 Part 2, table 31).</summary>
[Flags]
public enum TpmaObject : uint
{
    None = 0,
    FixedTpm = 1u << 1,
    StClear = 1u << 2,
    FixedParent = 1u << 4,
    SensitiveDataOrigin = 1u << 5,
    UserWithAuth = 1u << 6,
    AdminWithPolicy = 1u << 7,
    NoDa = 1u << 10,
    EncryptedDuplication = 1u << 11,
    Restricted = 1u << 16,
    Decrypt = 1u << 17,
    Sign = 1u << 18,
}

/// <summary>
/// TPMA_NV bits (TPM 2.0 Part 2, table 204). Bits 4-7 are TPM_NT, the index type; 0 (ordinary) is the
/// only type kldload defines.
/// </summary>
[Flags]
public enum TpmaNv : uint
{
    None = 0,
    PpWrite = 1u << 0,
    OwnerWrite = 1u << 1,
    AuthWrite = 1u << 2,
    PolicyWrite = 1u << 3,
    PolicyDelete = 1u << 10,
    WriteLocked = 1u << 11,
    WriteAll = 1u << 12,
    WriteDefine = 1u << 13,
    WriteStClear = 1u << 14,
    GlobalLock = 1u << 15,
    PpRead = 1u << 16,
    OwnerRead = 1u << 17,
    AuthRead = 1u << 18,
    PolicyRead = 1u << 19,
    NoDa = 1u << 25,
    Orderly = 1u << 26,
    ClearStClear = 1u << 27,
    ReadLocked = 1u << 28,
    Written = 1u << 29,
    PlatformCreate = 1u << 30,
    ReadStClear = 1u << 31,
}

/// <summary>Well-known TPM_HANDLE values (TPM 2.0 Part 2, tables 27-28; TCG EK Credential Profile 2.5).</summary>
public static class TpmHandles
{
    public const uint Owner = 0x40000001;
    public const uint Null = 0x40000007;
    public const uint PasswordSession = 0x40000009;
    public const uint Lockout = 0x4000000A;
    public const uint Endorsement = 0x4000000B;
    public const uint Platform = 0x4000000C;

    /// <summary>First transient object handle.</summary>
    public const uint TransientFirst = 0x80000000;

    /// <summary>Persistent EK handles as the EK Credential Profile recommends (RSA 2048, ECC P-256 low range).</summary>
    public const uint PersistentEkRsa = 0x81010001;
    public const uint PersistentEkEcc = 0x81010002;

    /// <summary>The persistent-handle block the TCG reserves for EKs (Registry of Reserved TPM 2.0 Handles, 0x81010000-0x810100FF).</summary>
    public const uint PersistentEkFirst = 0x81010000;

    /// <summary>Last handle of the EK block.</summary>
    public const uint PersistentEkLast = 0x810100FF;

    /// <summary>Handle type (the top byte).</summary>
    public static byte Type(uint handle) => (byte)(handle >> 24);
}

/// <summary>Hash algorithm helpers keyed by TPM_ALG_ID.</summary>
public static class TpmHash
{
    /// <summary>Digest size in bytes, or 0 for a non-hash algorithm.</summary>
    public static int DigestSize(TpmAlgId hash) => hash switch
    {
        TpmAlgId.Sha1 => 20,
        TpmAlgId.Sha256 => 32,
        TpmAlgId.Sha384 => 48,
        TpmAlgId.Sha512 => 64,
        _ => 0,
    };

    /// <summary>The .NET name of a TPM hash algorithm.</summary>
    public static System.Security.Cryptography.HashAlgorithmName Name(TpmAlgId hash) => hash switch
    {
        TpmAlgId.Sha1 => System.Security.Cryptography.HashAlgorithmName.SHA1,
        TpmAlgId.Sha256 => System.Security.Cryptography.HashAlgorithmName.SHA256,
        TpmAlgId.Sha384 => System.Security.Cryptography.HashAlgorithmName.SHA384,
        TpmAlgId.Sha512 => System.Security.Cryptography.HashAlgorithmName.SHA512,
        _ => throw new NotSupportedException($"hash algorithm 0x{(ushort)hash:x4} is not supported"),
    };

    public static byte[] Compute(TpmAlgId hash, ReadOnlySpan<byte> data) => hash switch
    {
        TpmAlgId.Sha1 => System.Security.Cryptography.SHA1.HashData(data),
        TpmAlgId.Sha256 => System.Security.Cryptography.SHA256.HashData(data),
        TpmAlgId.Sha384 => System.Security.Cryptography.SHA384.HashData(data),
        TpmAlgId.Sha512 => System.Security.Cryptography.SHA512.HashData(data),
        _ => throw new NotSupportedException($"hash algorithm 0x{(ushort)hash:x4} is not supported"),
    };

    public static byte[] Hmac(TpmAlgId hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) => hash switch
    {
        TpmAlgId.Sha1 => System.Security.Cryptography.HMACSHA1.HashData(key, data),
        TpmAlgId.Sha256 => System.Security.Cryptography.HMACSHA256.HashData(key, data),
        TpmAlgId.Sha384 => System.Security.Cryptography.HMACSHA384.HashData(key, data),
        TpmAlgId.Sha512 => System.Security.Cryptography.HMACSHA512.HashData(key, data),
        _ => throw new NotSupportedException($"hash algorithm 0x{(ushort)hash:x4} is not supported"),
    };
}
