using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Device;

/// <summary>
/// An endorsement key from a TCG EK Credential Profile template: either created in the TPM (a
/// transient object, flushed on dispose) or a persistent EK the manufacturer or the platform left in
/// the EK handle block (never flushed or evicted here). CreatePrimary is deterministic in the
/// endorsement seed, so the same TPM always yields the same EK; it is byte-identical to what
/// <c>tpm2_createek</c> makes, and to a persistent EK made from the same template.
/// </summary>
public sealed class EndorsementKey : IDisposable
{
    /// <summary>First NV index of the EK certificate chain (TCG PC Client Platform TPM Profile / EK Credential Profile: 0x01C00100-0x01C001FF).</summary>
    public const uint CertificateChainFirst = 0x01C00100;

    /// <summary>Last NV index of the EK certificate chain.</summary>
    public const uint CertificateChainLast = 0x01C001FF;

    /// <summary>The order in which <see cref="Preferred"/> looks for an EK certificate: ECC first, then RSA.</summary>
    public static IReadOnlyList<EkKind> PreferenceOrder { get; } = [EkKind.EccP256L2, EkKind.EccP256H2, EkKind.EccP384H3, EkKind.RsaL1, EkKind.RsaH1];

    private readonly Tpm2 _tpm;

    private EndorsementKey(Tpm2 tpm, EkKind kind, TpmObject obj, bool persistent)
    {
        _tpm = tpm;
        Kind = kind;
        Handle = obj.Handle;
        Public = obj.Public;
        Name = obj.Name;
        IsPersistent = persistent;
    }

    public EkKind Kind { get; }

    /// <summary>True for an EK found at a persistent handle (0x81010000-0x810100FF): it stays in the TPM.</summary>
    public bool IsPersistent { get; }

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
        return new EndorsementKey(tpm, kind, obj, persistent: false);
    }

    /// <summary>
    /// The persistent EK of <paramref name="kind"/> when the TPM holds one in the EK handle block
    /// (0x81010001 RSA, 0x81010002 ECC P-256 per the TCG provisioning guidance, or elsewhere in the block,
    /// as swtpm_setup puts a P-384 EK at 0x81010016), else a freshly created one. A persistent key is
    /// taken only when its public area is the resolved template with its own unique field (so it is an
    /// EK of that kind, not some other key parked there) and, given a <paramref name="certificate"/>,
    /// when the certificate certifies it. Saves a CreatePrimary, which takes seconds for RSA on real TPMs.
    /// </summary>
    public static EndorsementKey OpenOrCreate(Tpm2 tpm, EkKind kind, byte[]? certificate = null, TpmAuth? endorsementAuth = null)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        var template = ResolveTemplate(tpm, kind);
        using var cert = TryLoad(certificate);
        foreach (var handle in tpm.GetHandles(TpmHandles.PersistentEkFirst).Where(h => h <= TpmHandles.PersistentEkLast))
        {
            var obj = tpm.ReadPublic(handle);
            if (IsFromTemplate(obj.Public, template) && (cert is null || EkCertificateValidator.KeyMatches(cert, obj.Public)))
            {
                return new EndorsementKey(tpm, kind, obj, persistent: true);
            }
        }

        return Create(tpm, kind, endorsementAuth);
    }

    private static X509Certificate2? TryLoad(byte[]? der)
    {
        try
        {
            return der is null ? null : X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return null; // not parseable here: the verifier will say so; the template check still applies
        }
    }

    /// <summary>True when <paramref name="key"/> is <paramref name="template"/> with only the unique field filled in.</summary>
    public static bool IsFromTemplate(TpmtPublic key, TpmtPublic template)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(template);
        if (key.Type != template.Type)
        {
            return false;
        }

        var expected = key.Type == TpmAlgId.Ecc ? template.WithUnique(key.EccX, key.EccY) : template.WithUnique(key.Unique);
        return expected.ContentEquals(key);
    }

    /// <summary>
    /// The EK to use: the first kind in <see cref="PreferenceOrder"/> (ECC before RSA) whose EK
    /// certificate is in NV, with that certificate; RSA L-1 without a certificate when there is none.
    /// An index whose content is not a DER certificate is passed over.
    /// </summary>
    public static (EkKind Kind, byte[]? Certificate) Preferred(Tpm2 tpm)
    {
        foreach (var kind in PreferenceOrder)
        {
            try
            {
                if (ReadCertificate(tpm, kind) is { } cert)
                {
                    return (kind, cert);
                }
            }
            catch (TpmFormatException)
            {
                // padding only, or a vendor format: not a certificate this EK can be vouched for by
            }
        }

        return (EkKind.RsaL1, null);
    }

    /// <summary>
    /// The certificates of the EK chain indices (0x01C00100-0x01C001FF) in index order: each index may hold
    /// several DER certificates one after another (Intel PTT does), followed by padding. Empty when the TPM
    /// has none. The verifier treats them as intermediates only, never as trust anchors.
    /// </summary>
    public static IReadOnlyList<byte[]> ReadCertificateChain(Tpm2 tpm)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        var chain = new List<byte[]>();
        foreach (var index in tpm.GetHandles(CertificateChainFirst).Where(h => h <= CertificateChainLast))
        {
            if (TryReadNv(tpm, index, TpmHandles.Owner) is { } raw)
            {
                chain.AddRange(SplitDer(raw));
            }
        }

        return chain;
    }

    /// <summary>Splits concatenated DER certificates; stops at the first byte that does not start a SEQUENCE (padding).</summary>
    public static IReadOnlyList<byte[]> SplitDer(byte[] raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var list = new List<byte[]>();
        var offset = 0;
        while (offset < raw.Length && raw[offset] == 0x30)
        {
            var one = TrimDer(raw[offset..]);
            list.Add(one);
            offset += one.Length;
        }

        return list;
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

    public void Dispose()
    {
        if (!IsPersistent)
        {
            _tpm.TryFlushContext(Handle);
        }
    }
}
