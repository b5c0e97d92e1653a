using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>
/// An endorsement key created in the TPM from a TCG EK Credential Profile template (a transient
/// object, flushed on dispose). CreatePrimary is deterministic in the endorsement seed, so the same
/// TPM always yields the same EK; it is byte-identical to what <c>tpm2_createek</c> makes.
/// </summary>
public sealed class EndorsementKey : IDisposable
{
    private readonly Tpm2 _tpm;

    private EndorsementKey(Tpm2 tpm, EkKind kind, TpmObject obj)
    {
        _tpm = tpm;
        Kind = kind;
        Handle = obj.Handle;
        Public = obj.Public;
        Name = obj.Name;
    }

    public EkKind Kind { get; }

    public uint Handle { get; }

    public TpmtPublic Public { get; }

    public byte[] Name { get; }

    /// <summary>True for the low-range templates, whose USER role needs PolicySecret(TPM_RH_ENDORSEMENT).</summary>
    public bool NeedsPolicySession => !Public.ObjectAttributes.HasFlag(TpmaObject.UserWithAuth);

    /// <summary>Creates the EK for <paramref name="kind"/>, honouring the template and nonce NV indices.</summary>
    public static EndorsementKey Create(Tpm2 tpm, EkKind kind, TpmAuth? endorsementAuth = null)
    {
        var template = ResolveTemplate(tpm, kind);
        var obj = tpm.CreatePrimary(TpmHandles.Endorsement, template, endorsementAuth);
        return new EndorsementKey(tpm, kind, obj);
    }

    /// <summary>
    /// The template to use (EK Credential Profile 2.5, clause 2.2.1.5): a template stored in NV replaces
    /// the default; a nonce stored in NV fills the first bytes of the unique field (RSA modulus or ECC x),
    /// the rest stays zero.
    /// </summary>
    public static TpmtPublic ResolveTemplate(Tpm2 tpm, EkKind kind)
    {
        var template = TpmTemplates.Ek(kind);
        if (TpmTemplates.EkOverrideIndices(kind) is not { } indices)
        {
            return template;
        }

        var stored = TryReadNv(tpm, indices.Template);
        if (stored is not null)
        {
            template = TpmMarshal.Read<TpmtPublic>(stored);
        }

        var nonce = TryReadNv(tpm, indices.Nonce);
        if (nonce is not null)
        {
            if (template.Type == TpmAlgId.Rsa)
            {
                var unique = new byte[template.RsaKeyBits / 8];
                nonce.AsSpan(0, Math.Min(nonce.Length, unique.Length)).CopyTo(unique);
                template = template.WithUnique(unique);
            }
            else
            {
                var size = template.Curve == TpmEccCurve.NistP384 ? 48 : 32;
                var x = new byte[size];
                nonce.AsSpan(0, Math.Min(nonce.Length, size)).CopyTo(x);
                template = template.WithUnique(x, new byte[size]);
            }
        }

        return template;
    }

    /// <summary>The EK certificate from NV trimmed to its DER length, or null when the index does not exist.</summary>
    public static byte[]? ReadCertificate(Tpm2 tpm, EkKind kind) =>
        TryReadNv(tpm, TpmTemplates.EkCertificateIndex(kind), TpmHandles.Owner) is { } raw ? TrimDer(raw) : null;

    /// <summary>Cuts NV padding after a DER SEQUENCE (tag 0x30 with a short or long-form length).</summary>
    public static byte[] TrimDer(byte[] raw)
    {
        if (raw.Length < 2 || raw[0] != 0x30)
        {
            throw new TpmFormatException("EK certificate", "NV content does not start with a DER SEQUENCE");
        }

        int length, header;
        if (raw[1] < 0x80)
        {
            length = raw[1];
            header = 2;
        }
        else
        {
            var n = raw[1] & 0x7F;
            if (n is 0 or > 3 || raw.Length < 2 + n)
            {
                throw new TpmFormatException("EK certificate", "bad DER length");
            }

            length = 0;
            for (var i = 0; i < n; i++)
            {
                length = (length << 8) | raw[2 + i];
            }

            header = 2 + n;
        }

        return header + length > raw.Length
            ? throw new TpmFormatException("EK certificate", $"DER length {header + length} exceeds the {raw.Length} NV bytes")
            : raw[..(header + length)];
    }

    /// <summary>An authorization for the EK's USER role; dispose the session afterwards.</summary>
    public (TpmAuth Auth, PolicySession? Session) Authorize()
    {
        if (!NeedsPolicySession)
        {
            return (TpmAuth.EmptyPassword, null);
        }

        var session = PolicySession.Endorsement(_tpm, Public.NameAlg == TpmAlgId.Sha384 ? TpmAlgId.Sha384 : TpmAlgId.Sha256);
        return (session.Auth, session);
    }

    private static byte[]? TryReadNv(Tpm2 tpm, uint index, uint? authHandle = null)
    {
        try
        {
            tpm.NvReadPublic(index);
        }
        catch (TpmException e) when (e.Code.BaseCode is 0x08B or 0x18B)
        {
            return null; // TPM_RC_HANDLE: no such index
        }

        return tpm.NvRead(index, authHandle ?? index);
    }

    public void Dispose() => _tpm.TryFlushContext(Handle);
}
