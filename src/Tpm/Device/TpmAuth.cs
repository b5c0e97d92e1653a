using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>
/// One TPMS_AUTH_COMMAND of a command's authorization area (TPM 2.0 Part 1, clause 19.6; Part 2, table 103).
/// <code>
/// sessionHandle u32 | nonceCaller TPM2B | sessionAttributes u8 | hmac TPM2B (the password for TPM_RS_PW)
/// </code>
/// Only password authorization and policy sessions without HMAC (no PolicyAuthValue) are used by kldload,
/// so no session key or command parameter hash is needed.
/// </summary>
public readonly record struct TpmAuth(uint SessionHandle, byte Attributes, byte[] Hmac)
{
    /// <summary>TPMA_SESSION.continueSession.</summary>
    public const byte ContinueSession = 0x01;

    /// <summary>The empty password (the default for every hierarchy on a fresh TPM).</summary>
    public static TpmAuth EmptyPassword { get; } = new(TpmHandles.PasswordSession, ContinueSession, []);

    /// <summary>A password authorization (TPM_RS_PW).</summary>
    public static TpmAuth Password(ReadOnlySpan<byte> password) => new(TpmHandles.PasswordSession, ContinueSession, password.ToArray());

    /// <summary>A policy session; without continueSession the TPM flushes it after a successful command.</summary>
    public static TpmAuth Policy(uint sessionHandle, bool continueSession = false) =>
        new(sessionHandle, continueSession ? ContinueSession : (byte)0, []);

    internal void Write(ref TpmWriter writer)
    {
        writer.WriteUInt32(SessionHandle);
        writer.WriteSized([]);
        writer.WriteByte(Attributes);
        writer.WriteSized(Hmac);
    }
}
