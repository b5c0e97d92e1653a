namespace Kldload.Tpm.Errors;

/// <summary>Which command element a format-1 response code points at.</summary>
public enum TpmRcSubject : byte
{
    None = 0,
    Handle = 1,
    Parameter = 2,
    Session = 3,
}

/// <summary>
/// A decoded TPM_RC (TPM 2.0 Part 2, clause 6.6, tables 16-17).
/// <code>
/// format 0 (bit 7 = 0): bit 8 VER1 | bit 10 vendor | bit 11 warning (RC_WARN 0x900) | bits 0-6 error number
/// format 1 (bit 7 = 1): bits 0-5 error number (RC_FMT1 0x080) | bit 6 P (parameter)
///                       bits 8-11 N: parameter number if P, else bit 11 = session flag and bits 8-10 handle/session number
/// </code>
/// </summary>
public readonly record struct TpmResponseCode(uint Value)
{
    public const uint Success = 0x000;
    public const uint Retry = 0x922;
    public const uint Yielded = 0x908;
    public const uint Testing = 0x90A;

    public bool IsSuccess => Value == Success;

    public bool IsFormat1 => (Value & 0x080) != 0;

    public bool IsWarning => !IsFormat1 && (Value & 0x900) == 0x900;

    public bool IsVendor => !IsFormat1 && (Value & 0x400) != 0;

    /// <summary>The base code with handle/parameter/session numbers removed (format 1: 0x080 + number).</summary>
    public uint BaseCode => IsFormat1 ? 0x080 + (Value & 0x3F) : Value & 0xFFF;

    /// <summary>True for the warnings a caller should answer by sending the same command again.</summary>
    public bool IsTransient => BaseCode is Retry or Yielded or Testing;

    public TpmRcSubject Subject => !IsFormat1
        ? TpmRcSubject.None
        : (Value & 0x040) != 0
            ? TpmRcSubject.Parameter
            : ((Value >> 8) & 0xF) == 0
                ? TpmRcSubject.None
                : (Value & 0x800) != 0 ? TpmRcSubject.Session : TpmRcSubject.Handle;

    /// <summary>1-based handle, parameter or session number; 0 when the code names none.</summary>
    public int Number => Subject switch
    {
        TpmRcSubject.Parameter => (int)((Value >> 8) & 0xF),
        TpmRcSubject.Handle or TpmRcSubject.Session => (int)((Value >> 8) & 0x7),
        _ => 0,
    };

    /// <summary>The specification's name, e.g. TPM_RC_INTEGRITY.</summary>
    public string Name => IsVendor ? $"TPM_RC_VENDOR_0x{Value:x3}" : Names.TryGetValue(BaseCode, out var n) ? n : $"TPM_RC_0x{BaseCode:x3}";

    public override string ToString() => Subject == TpmRcSubject.None
        ? $"{Name} (0x{Value:x3})"
        : $"{Name} on {Subject.ToString().ToLowerInvariant()} {Number} (0x{Value:x3})";

    private static readonly Dictionary<uint, string> Names = new()
    {
        [0x000] = "TPM_RC_SUCCESS",
        [0x01E] = "TPM_RC_BAD_TAG",
        // format 0, RC_VER1 = 0x100 (table 16)
        [0x100] = "TPM_RC_INITIALIZE",
        [0x101] = "TPM_RC_FAILURE",
        [0x103] = "TPM_RC_SEQUENCE",
        [0x10B] = "TPM_RC_PRIVATE",
        [0x119] = "TPM_RC_HMAC",
        [0x120] = "TPM_RC_DISABLED",
        [0x121] = "TPM_RC_EXCLUSIVE",
        [0x124] = "TPM_RC_AUTH_TYPE",
        [0x125] = "TPM_RC_AUTH_MISSING",
        [0x126] = "TPM_RC_POLICY",
        [0x127] = "TPM_RC_PCR",
        [0x128] = "TPM_RC_PCR_CHANGED",
        [0x12D] = "TPM_RC_UPGRADE",
        [0x12E] = "TPM_RC_TOO_MANY_CONTEXTS",
        [0x12F] = "TPM_RC_AUTH_UNAVAILABLE",
        [0x130] = "TPM_RC_REBOOT",
        [0x131] = "TPM_RC_UNBALANCED",
        [0x142] = "TPM_RC_COMMAND_SIZE",
        [0x143] = "TPM_RC_COMMAND_CODE",
        [0x144] = "TPM_RC_AUTHSIZE",
        [0x145] = "TPM_RC_AUTH_CONTEXT",
        [0x146] = "TPM_RC_NV_RANGE",
        [0x147] = "TPM_RC_NV_SIZE",
        [0x148] = "TPM_RC_NV_LOCKED",
        [0x149] = "TPM_RC_NV_AUTHORIZATION",
        [0x14A] = "TPM_RC_NV_UNINITIALIZED",
        [0x14B] = "TPM_RC_NV_SPACE",
        [0x14C] = "TPM_RC_NV_DEFINED",
        [0x150] = "TPM_RC_BAD_CONTEXT",
        [0x151] = "TPM_RC_CPHASH",
        [0x152] = "TPM_RC_PARENT",
        [0x153] = "TPM_RC_NEEDS_TEST",
        [0x154] = "TPM_RC_NO_RESULT",
        [0x155] = "TPM_RC_SENSITIVE",
        // format 1, RC_FMT1 = 0x080 (table 16)
        [0x081] = "TPM_RC_ASYMMETRIC",
        [0x082] = "TPM_RC_ATTRIBUTES",
        [0x083] = "TPM_RC_HASH",
        [0x084] = "TPM_RC_VALUE",
        [0x085] = "TPM_RC_HIERARCHY",
        [0x087] = "TPM_RC_KEY_SIZE",
        [0x088] = "TPM_RC_MGF",
        [0x089] = "TPM_RC_MODE",
        [0x08A] = "TPM_RC_TYPE",
        [0x08B] = "TPM_RC_HANDLE",
        [0x08C] = "TPM_RC_KDF",
        [0x08D] = "TPM_RC_RANGE",
        [0x08E] = "TPM_RC_AUTH_FAIL",
        [0x08F] = "TPM_RC_NONCE",
        [0x090] = "TPM_RC_PP",
        [0x092] = "TPM_RC_SCHEME",
        [0x095] = "TPM_RC_SIZE",
        [0x096] = "TPM_RC_SYMMETRIC",
        [0x097] = "TPM_RC_TAG",
        [0x098] = "TPM_RC_SELECTOR",
        [0x09A] = "TPM_RC_INSUFFICIENT",
        [0x09B] = "TPM_RC_SIGNATURE",
        [0x09C] = "TPM_RC_KEY",
        [0x09D] = "TPM_RC_POLICY_FAIL",
        [0x09F] = "TPM_RC_INTEGRITY",
        [0x0A0] = "TPM_RC_TICKET",
        [0x0A1] = "TPM_RC_RESERVED_BITS",
        [0x0A2] = "TPM_RC_BAD_AUTH",
        [0x0A3] = "TPM_RC_EXPIRED",
        [0x0A4] = "TPM_RC_POLICY_CC",
        [0x0A5] = "TPM_RC_BINDING",
        [0x0A6] = "TPM_RC_CURVE",
        [0x0A7] = "TPM_RC_ECC_POINT",
        // warnings, RC_WARN = 0x900 (table 16)
        [0x901] = "TPM_RC_CONTEXT_GAP",
        [0x902] = "TPM_RC_OBJECT_MEMORY",
        [0x903] = "TPM_RC_SESSION_MEMORY",
        [0x904] = "TPM_RC_MEMORY",
        [0x905] = "TPM_RC_SESSION_HANDLES",
        [0x906] = "TPM_RC_OBJECT_HANDLES",
        [0x907] = "TPM_RC_LOCALITY",
        [0x908] = "TPM_RC_YIELDED",
        [0x909] = "TPM_RC_CANCELED",
        [0x90A] = "TPM_RC_TESTING",
        [0x910] = "TPM_RC_REFERENCE_H0",
        [0x911] = "TPM_RC_REFERENCE_H1",
        [0x912] = "TPM_RC_REFERENCE_H2",
        [0x913] = "TPM_RC_REFERENCE_H3",
        [0x914] = "TPM_RC_REFERENCE_H4",
        [0x915] = "TPM_RC_REFERENCE_H5",
        [0x916] = "TPM_RC_REFERENCE_H6",
        [0x918] = "TPM_RC_REFERENCE_S0",
        [0x919] = "TPM_RC_REFERENCE_S1",
        [0x91A] = "TPM_RC_REFERENCE_S2",
        [0x91B] = "TPM_RC_REFERENCE_S3",
        [0x91C] = "TPM_RC_REFERENCE_S4",
        [0x91D] = "TPM_RC_REFERENCE_S5",
        [0x91E] = "TPM_RC_REFERENCE_S6",
        [0x920] = "TPM_RC_NV_RATE",
        [0x921] = "TPM_RC_LOCKOUT",
        [0x922] = "TPM_RC_RETRY",
        [0x923] = "TPM_RC_NV_UNAVAILABLE",
        [0x97F] = "TPM_RC_NOT_USED",
    };
}
