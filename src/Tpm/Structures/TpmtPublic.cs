using System.Security.Cryptography;
using Kldload.Tpm.Marshalling;

namespace Kldload.Tpm.Structures;

/// <summary>
/// TPMT_SYM_DEF_OBJECT (TPM 2.0 Part 2, table 140): the symmetric algorithm of a storage key.
/// <code>
/// algorithm u16 | keyBits u16 | mode u16      (keyBits and mode absent when algorithm = TPM_ALG_NULL)
/// </code>
/// </summary>
public readonly record struct TpmtSymDefObject(TpmAlgId Algorithm, ushort KeyBits, TpmAlgId Mode) : ITpmStructure<TpmtSymDefObject>
{
    public static TpmtSymDefObject Null => new(TpmAlgId.Null, 0, TpmAlgId.Null);

    public static TpmtSymDefObject Aes128Cfb => new(TpmAlgId.Aes, 128, TpmAlgId.Cfb);

    public static bool TryRead(ref TpmReader reader, out TpmtSymDefObject value)
    {
        var alg = (TpmAlgId)reader.ReadUInt16("TPMT_SYM_DEF_OBJECT.algorithm");
        value = alg == TpmAlgId.Null
            ? Null
            : new TpmtSymDefObject(alg, reader.ReadUInt16("TPMT_SYM_DEF_OBJECT.keyBits"), (TpmAlgId)reader.ReadUInt16("TPMT_SYM_DEF_OBJECT.mode"));
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt16((ushort)Algorithm);
        if (Algorithm != TpmAlgId.Null)
        {
            writer.WriteUInt16(KeyBits);
            writer.WriteUInt16((ushort)Mode);
        }
    }
}

/// <summary>
/// A scheme selector with its hash: TPMT_RSA_SCHEME, TPMT_ECC_SCHEME, TPMT_KEYEDHASH_SCHEME,
/// TPMT_KDF_SCHEME, TPMT_SIG_SCHEME (TPM 2.0 Part 2, tables 141-163).
/// <code>
/// scheme u16 | hashAlg u16 | extra u16     (nothing after scheme for TPM_ALG_NULL; extra = kdf for XOR, count for ECDAA)
/// </code>
/// </summary>
public readonly record struct TpmtScheme(TpmAlgId Scheme, TpmAlgId HashAlg, ushort Extra = 0) : ITpmStructure<TpmtScheme>
{
    public static TpmtScheme Null => new(TpmAlgId.Null, TpmAlgId.Null);

    public static bool TryRead(ref TpmReader reader, out TpmtScheme value)
    {
        var scheme = (TpmAlgId)reader.ReadUInt16("scheme");
        if (scheme == TpmAlgId.Null)
        {
            value = Null;
            return !reader.Failed;
        }

        var hash = (TpmAlgId)reader.ReadUInt16("scheme.hashAlg");
        var extra = scheme is TpmAlgId.Xor or TpmAlgId.EcDaa ? reader.ReadUInt16("scheme.extra") : (ushort)0;
        value = new TpmtScheme(scheme, hash, extra);
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt16((ushort)Scheme);
        if (Scheme == TpmAlgId.Null)
        {
            return;
        }

        writer.WriteUInt16((ushort)HashAlg);
        if (Scheme is TpmAlgId.Xor or TpmAlgId.EcDaa)
        {
            writer.WriteUInt16(Extra);
        }
    }
}

/// <summary>
/// TPMT_PUBLIC (TPM 2.0 Part 2, table 191): the public area of an object. The Name of an object is
/// <c>nameAlg || H_nameAlg(marshalled TPMT_PUBLIC)</c> (Part 1, clause 16).
/// <code>
/// type u16 | nameAlg u16 | objectAttributes u32 | authPolicy TPM2B
/// parameters (TPMU_PUBLIC_PARMS, by type):
///   RSA:       TPMT_SYM_DEF_OBJECT | TPMT_RSA_SCHEME | keyBits u16 | exponent u32
///   ECC:       TPMT_SYM_DEF_OBJECT | TPMT_ECC_SCHEME | curveID u16 | TPMT_KDF_SCHEME
///   KEYEDHASH: TPMT_KEYEDHASH_SCHEME
///   SYMCIPHER: TPMT_SYM_DEF_OBJECT
/// unique (TPMU_PUBLIC_ID): RSA TPM2B modulus | ECC TPM2B x, TPM2B y | KEYEDHASH/SYMCIPHER TPM2B digest
/// </code>
/// </summary>
public sealed class TpmtPublic : ITpmStructure<TpmtPublic>
{
    public required TpmAlgId Type { get; init; }

    public required TpmAlgId NameAlg { get; init; }

    public required TpmaObject ObjectAttributes { get; init; }

    public byte[] AuthPolicy { get; init; } = [];

    /// <summary>Symmetric algorithm of a storage key (RSA, ECC, SYMCIPHER).</summary>
    public TpmtSymDefObject Symmetric { get; init; } = TpmtSymDefObject.Null;

    /// <summary>Signing or key-exchange scheme (RSA, ECC, KEYEDHASH).</summary>
    public TpmtScheme Scheme { get; init; } = TpmtScheme.Null;

    public ushort RsaKeyBits { get; init; }

    /// <summary>RSA public exponent; 0 means 65537.</summary>
    public uint RsaExponent { get; init; }

    public TpmEccCurve Curve { get; init; }

    public TpmtScheme EccKdf { get; init; } = TpmtScheme.Null;

    /// <summary>RSA modulus, or the KEYEDHASH/SYMCIPHER unique digest.</summary>
    public byte[] Unique { get; init; } = [];

    public byte[] EccX { get; init; } = [];

    public byte[] EccY { get; init; } = [];

    public static bool TryRead(ref TpmReader reader, out TpmtPublic value)
    {
        value = null!;
        var type = (TpmAlgId)reader.ReadUInt16("TPMT_PUBLIC.type");
        var nameAlg = (TpmAlgId)reader.ReadUInt16("TPMT_PUBLIC.nameAlg");
        var attributes = (TpmaObject)reader.ReadUInt32("TPMT_PUBLIC.objectAttributes");
        var policy = reader.ReadSizedArray("TPMT_PUBLIC.authPolicy", 64);
        if (reader.Failed)
        {
            return false;
        }

        switch (type)
        {
            case TpmAlgId.Rsa:
                {
                    TpmtSymDefObject.TryRead(ref reader, out var sym);
                    TpmtScheme.TryRead(ref reader, out var scheme);
                    var bits = reader.ReadUInt16("TPMS_RSA_PARMS.keyBits");
                    var exponent = reader.ReadUInt32("TPMS_RSA_PARMS.exponent");
                    var modulus = reader.ReadSizedArray("TPM2B_PUBLIC_KEY_RSA", 512);
                    value = new TpmtPublic
                    {
                        Type = type,
                        NameAlg = nameAlg,
                        ObjectAttributes = attributes,
                        AuthPolicy = policy,
                        Symmetric = sym,
                        Scheme = scheme,
                        RsaKeyBits = bits,
                        RsaExponent = exponent,
                        Unique = modulus,
                    };
                    break;
                }

            case TpmAlgId.Ecc:
                {
                    TpmtSymDefObject.TryRead(ref reader, out var sym);
                    TpmtScheme.TryRead(ref reader, out var scheme);
                    var curve = (TpmEccCurve)reader.ReadUInt16("TPMS_ECC_PARMS.curveID");
                    TpmtScheme.TryRead(ref reader, out var kdf);
                    var x = reader.ReadSizedArray("TPMS_ECC_POINT.x", 128);
                    var y = reader.ReadSizedArray("TPMS_ECC_POINT.y", 128);
                    value = new TpmtPublic
                    {
                        Type = type,
                        NameAlg = nameAlg,
                        ObjectAttributes = attributes,
                        AuthPolicy = policy,
                        Symmetric = sym,
                        Scheme = scheme,
                        Curve = curve,
                        EccKdf = kdf,
                        EccX = x,
                        EccY = y,
                    };
                    break;
                }

            case TpmAlgId.KeyedHash:
                {
                    TpmtScheme.TryRead(ref reader, out var scheme);
                    var unique = reader.ReadSizedArray("TPM2B_DIGEST unique", 64);
                    value = new TpmtPublic
                    {
                        Type = type,
                        NameAlg = nameAlg,
                        ObjectAttributes = attributes,
                        AuthPolicy = policy,
                        Scheme = scheme,
                        Unique = unique,
                    };
                    break;
                }

            case TpmAlgId.SymCipher:
                {
                    TpmtSymDefObject.TryRead(ref reader, out var sym);
                    var unique = reader.ReadSizedArray("TPM2B_DIGEST unique", 64);
                    value = new TpmtPublic
                    {
                        Type = type,
                        NameAlg = nameAlg,
                        ObjectAttributes = attributes,
                        AuthPolicy = policy,
                        Symmetric = sym,
                        Unique = unique,
                    };
                    break;
                }

            default:
                reader.Fail($"unsupported TPMT_PUBLIC.type 0x{(ushort)type:x4}");
                return false;
        }

        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt16((ushort)Type);
        writer.WriteUInt16((ushort)NameAlg);
        writer.WriteUInt32((uint)ObjectAttributes);
        writer.WriteSized(AuthPolicy);
        switch (Type)
        {
            case TpmAlgId.Rsa:
                Symmetric.Write(ref writer);
                Scheme.Write(ref writer);
                writer.WriteUInt16(RsaKeyBits);
                writer.WriteUInt32(RsaExponent);
                writer.WriteSized(Unique);
                break;
            case TpmAlgId.Ecc:
                Symmetric.Write(ref writer);
                Scheme.Write(ref writer);
                writer.WriteUInt16((ushort)Curve);
                EccKdf.Write(ref writer);
                writer.WriteSized(EccX);
                writer.WriteSized(EccY);
                break;
            case TpmAlgId.KeyedHash:
                Scheme.Write(ref writer);
                writer.WriteSized(Unique);
                break;
            case TpmAlgId.SymCipher:
                Symmetric.Write(ref writer);
                writer.WriteSized(Unique);
                break;
            default:
                throw new InvalidOperationException($"unsupported TPMT_PUBLIC.type 0x{(ushort)Type:x4}");
        }
    }

    /// <summary>The marshalled TPMT_PUBLIC.</summary>
    public byte[] ToBytes() => TpmMarshal.ToBytes(this);

    /// <summary>The marshalled TPM2B_PUBLIC (UINT16 size, then the TPMT_PUBLIC).</summary>
    public byte[] ToSizedBytes() => TpmMarshal.ToBytes(new Tpm2bPublic(this));

    /// <summary>The object's Name: nameAlg (u16) followed by H_nameAlg(TPMT_PUBLIC) (TPM 2.0 Part 1, clause 16).</summary>
    public byte[] Name()
    {
        var digest = TpmHash.Compute(NameAlg, ToBytes());
        var name = new byte[2 + digest.Length];
        name[0] = (byte)((ushort)NameAlg >> 8);
        name[1] = (byte)NameAlg;
        digest.CopyTo(name, 2);
        return name;
    }

    /// <summary>A copy with another unique field (templates carry zeros or a nonce there).</summary>
    public TpmtPublic WithUnique(byte[] unique, byte[]? eccY = null) => new()
    {
        Type = Type,
        NameAlg = NameAlg,
        ObjectAttributes = ObjectAttributes,
        AuthPolicy = AuthPolicy,
        Symmetric = Symmetric,
        Scheme = Scheme,
        RsaKeyBits = RsaKeyBits,
        RsaExponent = RsaExponent,
        Curve = Curve,
        EccKdf = EccKdf,
        Unique = Type == TpmAlgId.Ecc ? [] : unique,
        EccX = Type == TpmAlgId.Ecc ? unique : [],
        EccY = Type == TpmAlgId.Ecc ? eccY ?? [] : [],
    };

    /// <summary>The RSA public key (modulus and exponent) of an RSA object.</summary>
    public RSA CreateRsa()
    {
        if (Type != TpmAlgId.Rsa)
        {
            throw new InvalidOperationException("not an RSA key");
        }

        var rsa = RSA.Create();
        rsa.ImportParameters(RsaParameters());
        return rsa;
    }

    public RSAParameters RsaParameters()
    {
        var exponent = RsaExponent == 0 ? 65537u : RsaExponent;
        var e = new byte[] { (byte)(exponent >> 24), (byte)(exponent >> 16), (byte)(exponent >> 8), (byte)exponent };
        var skip = 0;
        while (skip < 3 && e[skip] == 0)
        {
            skip++;
        }

        return new RSAParameters { Modulus = Unique, Exponent = e[skip..] };
    }

    /// <summary>The .NET curve of an ECC object.</summary>
    public ECCurve EcCurve() => Curve switch
    {
        TpmEccCurve.NistP256 => ECCurve.NamedCurves.nistP256,
        TpmEccCurve.NistP384 => ECCurve.NamedCurves.nistP384,
        TpmEccCurve.NistP521 => ECCurve.NamedCurves.nistP521,
        _ => throw new NotSupportedException($"ECC curve 0x{(ushort)Curve:x4} is not supported"),
    };

    public ECParameters EcParameters() => new() { Curve = EcCurve(), Q = new ECPoint { X = EccX, Y = EccY } };

    /// <summary>The ECDSA public key of an ECC object.</summary>
    public ECDsa CreateEcdsa()
    {
        if (Type != TpmAlgId.Ecc)
        {
            throw new InvalidOperationException("not an ECC key");
        }

        return ECDsa.Create(EcParameters());
    }

    /// <summary>True when both public areas marshal to the same bytes.</summary>
    public bool ContentEquals(TpmtPublic other) => ToBytes().AsSpan().SequenceEqual(other.ToBytes());
}

/// <summary>
/// TPM2B_PUBLIC (TPM 2.0 Part 2, table 192): <c>size u16 | TPMT_PUBLIC</c>; the size must match exactly.
/// This is the format of tpm2-tools' <c>-f tss</c> public files.
/// </summary>
public readonly record struct Tpm2bPublic(TpmtPublic Public) : ITpmStructure<Tpm2bPublic>
{
    public static bool TryRead(ref TpmReader reader, out Tpm2bPublic value)
    {
        value = default;
        var content = reader.ReadSized("TPM2B_PUBLIC");
        if (reader.Failed)
        {
            return false;
        }

        var inner = new TpmReader(content);
        if (!TpmtPublic.TryRead(ref inner, out var pub))
        {
            reader.Fail("TPM2B_PUBLIC: " + inner.Error);
            return false;
        }

        inner.ExpectEnd("TPMT_PUBLIC");
        if (inner.Failed)
        {
            reader.Fail("TPM2B_PUBLIC: " + inner.Error);
            return false;
        }

        value = new Tpm2bPublic(pub);
        return true;
    }

    public void Write(ref TpmWriter writer)
    {
        var at = writer.BeginSize16();
        Public.Write(ref writer);
        writer.EndSize16(at);
    }
}
