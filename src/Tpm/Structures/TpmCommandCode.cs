namespace Kldload.Tpm.Structures;

/// <summary>TPM_CC values used by kldload (TPM 2.0 Part 2, table 12).</summary>
public enum TpmCommandCode : uint
{
    NvRead = 0x0000014E,
    ActivateCredential = 0x00000147,
    Startup = 0x00000144,
    Create = 0x00000153,
    Load = 0x00000157,
    Quote = 0x00000158,
    Hmac = 0x00000155,
    PolicySecret = 0x00000151,
    CreatePrimary = 0x00000131,
    FlushContext = 0x00000165,
    NvReadPublic = 0x00000169,
    PolicyOr = 0x00000171,
    ReadPublic = 0x00000173,
    StartAuthSession = 0x00000176,
    GetCapability = 0x0000017A,
    GetRandom = 0x0000017B,
    PcrRead = 0x0000017E,
    PolicyPcr = 0x0000017F,
    Unseal = 0x0000015E,
    PolicyGetDigest = 0x00000189,
    EvictControl = 0x00000120,
    NvUndefineSpace = 0x00000122,
    NvDefineSpace = 0x0000012A,
    NvWrite = 0x00000137,
}
