using System.Security.Cryptography;
using System.Text;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Device;

/// <summary>The EK templates of the TCG EK Credential Profile 2.5, clause 2.2.1.</summary>
public enum EkKind
{
    /// <summary>Template L-1: RSA 2048, SHA-256, AES-128-CFB, 256 zero bytes of unique; NV 0x01C00002.</summary>
    RsaL1,

    /// <summary>Template L-2: ECC NIST P-256, SHA-256, AES-128-CFB, 32+32 zero bytes of unique; NV 0x01C0000A.</summary>
    EccP256L2,

    /// <summary>Template H-1: RSA 2048, SHA-256, PolicyB, userWithAuth, empty unique; NV 0x01C00012.</summary>
    RsaH1,

    /// <summary>Template H-2: ECC NIST P-256, SHA-256, PolicyB; NV 0x01C00014.</summary>
    EccP256H2,

    /// <summary>Template H-3: ECC NIST P-384, SHA-384, AES-256-CFB, PolicyB; NV 0x01C00016.</summary>
    EccP384H3,
}

/// <summary>
/// Object templates (TPMT_PUBLIC with an empty or zero unique field): the TCG EK Credential Profile
/// EKs, the AKs <c>tpm2_createak</c> makes, an SRK, the HMAC key for the WireGuard derivation, and a
/// sealed-data object.
/// </summary>
public static class TpmTemplates
{
    private const TpmaObject EkLowAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.SensitiveDataOrigin
        | TpmaObject.AdminWithPolicy | TpmaObject.Restricted | TpmaObject.Decrypt;

    private const TpmaObject EkHighAttributes = EkLowAttributes | TpmaObject.UserWithAuth;

    private const TpmaObject AkAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.SensitiveDataOrigin
        | TpmaObject.UserWithAuth | TpmaObject.Restricted | TpmaObject.Sign;

    /// <summary>PolicyA, SHA-256: TPM2_PolicySecret(TPM_RH_ENDORSEMENT) (EK Credential Profile, B.3.2).</summary>
    public static ReadOnlySpan<byte> PolicyASha256 => Convert.FromHexString("837197674484B3F81A90CC8D46A5D724FD52D76E06520B64F2A1DA1B331469AA");

    /// <summary>PolicyB, SHA-256: PolicyOR(PolicyA, PolicyC) (EK Credential Profile, B.4).</summary>
    public static ReadOnlySpan<byte> PolicyBSha256 => Convert.FromHexString("CA3D0A99A2B93906F7A3342414EFCFB3A385D44CD1FD459089D19B5071C0B7A0");

    /// <summary>PolicyB, SHA-384.</summary>
    public static ReadOnlySpan<byte> PolicyBSha384 =>
        Convert.FromHexString("B26E7D28D11A50BC53D882BCF5FD3A1A074148BB35D3B4E4CB1C0AD9BDE419CACB47BA09699646150F9FC000F3F80E12");

    /// <summary>The NV index of the EK certificate for a template (EK Credential Profile, 2.2.1.4 and 2.2.1.5).</summary>
    public static uint EkCertificateIndex(EkKind kind) => kind switch
    {
        EkKind.RsaL1 => 0x01C00002,
        EkKind.EccP256L2 => 0x01C0000A,
        EkKind.RsaH1 => 0x01C00012,
        EkKind.EccP256H2 => 0x01C00014,
        EkKind.EccP384H3 => 0x01C00016,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The NV indices of a low-range template's nonce and template override, or null for high-range templates.</summary>
    public static (uint Nonce, uint Template)? EkOverrideIndices(EkKind kind) => kind switch
    {
        EkKind.RsaL1 => (0x01C00003, 0x01C00004),
        EkKind.EccP256L2 => (0x01C0000B, 0x01C0000C),
        _ => null,
    };

    /// <summary>The default EK template for <paramref name="kind"/>.</summary>
    public static TpmtPublic Ek(EkKind kind) => kind switch
    {
        EkKind.RsaL1 => new TpmtPublic
        {
            Type = TpmAlgId.Rsa,
            NameAlg = TpmAlgId.Sha256,
            ObjectAttributes = EkLowAttributes,
            AuthPolicy = PolicyASha256.ToArray(),
            Symmetric = TpmtSymDefObject.Aes128Cfb,
            Scheme = TpmtScheme.Null,
            RsaKeyBits = 2048,
            RsaExponent = 0,
            Unique = new byte[256],
        },
        EkKind.EccP256L2 => new TpmtPublic
        {
            Type = TpmAlgId.Ecc,
            NameAlg = TpmAlgId.Sha256,
            ObjectAttributes = EkLowAttributes,
            AuthPolicy = PolicyASha256.ToArray(),
            Symmetric = TpmtSymDefObject.Aes128Cfb,
            Scheme = TpmtScheme.Null,
            Curve = TpmEccCurve.NistP256,
            EccKdf = TpmtScheme.Null,
            EccX = new byte[32],
            EccY = new byte[32],
        },
        EkKind.RsaH1 => new TpmtPublic
        {
            Type = TpmAlgId.Rsa,
            NameAlg = TpmAlgId.Sha256,
            ObjectAttributes = EkHighAttributes,
            AuthPolicy = PolicyBSha256.ToArray(),
            Symmetric = TpmtSymDefObject.Aes128Cfb,
            Scheme = TpmtScheme.Null,
            RsaKeyBits = 2048,
            RsaExponent = 0,
        },
        EkKind.EccP256H2 => new TpmtPublic
        {
            Type = TpmAlgId.Ecc,
            NameAlg = TpmAlgId.Sha256,
            ObjectAttributes = EkHighAttributes,
            AuthPolicy = PolicyBSha256.ToArray(),
            Symmetric = TpmtSymDefObject.Aes128Cfb,
            Scheme = TpmtScheme.Null,
            Curve = TpmEccCurve.NistP256,
            EccKdf = TpmtScheme.Null,
        },
        EkKind.EccP384H3 => new TpmtPublic
        {
            Type = TpmAlgId.Ecc,
            NameAlg = TpmAlgId.Sha384,
            ObjectAttributes = EkHighAttributes,
            AuthPolicy = PolicyBSha384.ToArray(),
            Symmetric = new TpmtSymDefObject(TpmAlgId.Aes, 256, TpmAlgId.Cfb),
            Scheme = TpmtScheme.Null,
            Curve = TpmEccCurve.NistP384,
            EccKdf = TpmtScheme.Null,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// The AK <c>tpm2_createak -G rsa -g sha256 -s rsassa</c> makes: restricted RSA-2048 signing key,
    /// RSASSA-SHA256. <paramref name="stClear"/> adds stClear so the key cannot be reloaded after a reboot.
    /// </summary>
    public static TpmtPublic AkRsa2048(bool stClear = false) => new()
    {
        Type = TpmAlgId.Rsa,
        NameAlg = TpmAlgId.Sha256,
        ObjectAttributes = AkAttributes | (stClear ? TpmaObject.StClear : 0),
        Symmetric = TpmtSymDefObject.Null,
        Scheme = new TpmtScheme(TpmAlgId.RsaSsa, TpmAlgId.Sha256),
        RsaKeyBits = 2048,
    };

    /// <summary>The AK <c>tpm2_createak -G ecc -g sha256 -s ecdsa</c> makes: restricted P-256 signing key, ECDSA-SHA256.</summary>
    public static TpmtPublic AkEccP256(bool stClear = false) => new()
    {
        Type = TpmAlgId.Ecc,
        NameAlg = TpmAlgId.Sha256,
        ObjectAttributes = AkAttributes | (stClear ? TpmaObject.StClear : 0),
        Symmetric = TpmtSymDefObject.Null,
        Scheme = new TpmtScheme(TpmAlgId.EcDsa, TpmAlgId.Sha256),
        Curve = TpmEccCurve.NistP256,
        EccKdf = TpmtScheme.Null,
    };

    /// <summary>An ECC P-256 storage root key (restricted decrypt, AES-128-CFB), the parent for sealed objects.</summary>
    public static TpmtPublic SrkEccP256() => new()
    {
        Type = TpmAlgId.Ecc,
        NameAlg = TpmAlgId.Sha256,
        ObjectAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.SensitiveDataOrigin | TpmaObject.UserWithAuth
            | TpmaObject.NoDa | TpmaObject.Restricted | TpmaObject.Decrypt,
        Symmetric = TpmtSymDefObject.Aes128Cfb,
        Scheme = TpmtScheme.Null,
        Curve = TpmEccCurve.NistP256,
        EccKdf = TpmtScheme.Null,
    };

    /// <summary>The version label of <see cref="HmacPrimary"/>: changing it changes every derived key.</summary>
    public const string HmacPrimaryLabelV1 = "kldload/tpm-hmac-primary/v1";

    /// <summary>
    /// A keyedHash HMAC-SHA256 primary (fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, noDA, sign)
    /// whose unique field is SHA-256 of <paramref name="label"/>. CreatePrimary is deterministic in the
    /// hierarchy seed and the template, so the same TPM always recreates the same key.
    /// </summary>
    public static TpmtPublic HmacPrimary(string label = HmacPrimaryLabelV1) => new()
    {
        Type = TpmAlgId.KeyedHash,
        NameAlg = TpmAlgId.Sha256,
        ObjectAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.SensitiveDataOrigin | TpmaObject.UserWithAuth
            | TpmaObject.NoDa | TpmaObject.Sign,
        Scheme = new TpmtScheme(TpmAlgId.Hmac, TpmAlgId.Sha256),
        Unique = SHA256.HashData(Encoding.UTF8.GetBytes(label)),
    };

    /// <summary>A sealed-data object (keyedHash, scheme NULL) usable only through <paramref name="authPolicy"/>.</summary>
    public static TpmtPublic SealedData(byte[] authPolicy) => new()
    {
        Type = TpmAlgId.KeyedHash,
        NameAlg = TpmAlgId.Sha256,
        ObjectAttributes = TpmaObject.FixedTpm | TpmaObject.FixedParent | TpmaObject.NoDa,
        AuthPolicy = authPolicy,
        Scheme = TpmtScheme.Null,
    };
}
