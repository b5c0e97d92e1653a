using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>The keys of an active RMCP+ session: K1 signs each packet, the first 16 bytes of K2 encrypt it.</summary>
public sealed class RmcpPlusSessionKeys
{
    public RmcpPlusSessionKeys(CipherSuite suite, ReadOnlySpan<byte> k1, ReadOnlySpan<byte> k2)
    {
        Suite = suite;
        IntegrityKey = k1.ToArray();
        ConfidentialityKey = k2[..16].ToArray();
    }

    public CipherSuite Suite { get; }

    public byte[] IntegrityKey { get; }

    public byte[] ConfidentialityKey { get; }
}

/// <summary>One RMCP+ packet, read or to be written.</summary>
public readonly record struct RmcpPlusPacket(IpmiPayloadType PayloadType, uint SessionId, uint Sequence, ReadOnlyMemory<byte> Payload, bool Authenticated, bool Encrypted);

/// <summary>
/// The IPMI 2.0 / RMCP+ session wrapper (IPMI 2.0 section 13.6, table 13-8), after the RMCP header.
/// <code>
///  0        1              2..5        6..9         10..11       12..       (authenticated packets only)
/// +--------+--------------+-----------+------------+------------+---------+---------+---------+-------+----------+
/// | auth 06| E|A| type(6) | SID (LE)  | seq (LE)   | length (LE)| payload | pad FF..| pad len | 07    | AuthCode |
/// +--------+--------------+-----------+------------+------------+---------+---------+---------+-------+----------+
/// </code>
/// The integrity pad makes bytes 0 through the next header (07) a multiple of 4; AuthCode is
/// HMAC_K1 over those bytes, truncated per the integrity algorithm. An encrypted payload (section 13.29)
/// is a 16-byte IV, then AES-CBC-128 under K2 of the data followed by pad bytes 01, 02, ... and the
/// pad count, filling the last block.
/// </summary>
public static class RmcpPlusFrame
{
    public const byte AuthTypeRmcpPlus = 0x06;
    public const byte NextHeader = 0x07;
    public const int SessionHeaderSize = 12;
    public const int IvSize = 16;

    private const int SessionOffset = RmcpHeader.Size;
    private const int PayloadTypeOffset = SessionOffset + 1;
    private const int SessionIdOffset = SessionOffset + 2;
    private const int SequenceOffset = SessionOffset + 6;
    private const int LengthOffset = SessionOffset + 10;
    private const int PayloadOffset = SessionOffset + SessionHeaderSize;
    private const byte EncryptedBit = 0x80;
    private const byte AuthenticatedBit = 0x40;

    /// <summary>The largest datagram kldload writes or accepts.</summary>
    public const int MaximumDatagram = 1024;

    /// <summary>
    /// Writes a packet. With <paramref name="keys"/> null it goes unsigned and in clear (session setup);
    /// otherwise it is encrypted with <paramref name="iv"/> (16 random bytes) and signed.
    /// </summary>
    public static bool TryWrite(IpmiPayloadType type, uint sessionId, uint sequence, ReadOnlySpan<byte> payload, RmcpPlusSessionKeys? keys, ReadOnlySpan<byte> iv, Span<byte> destination, out int written)
    {
        written = 0;
        var encrypted = keys is not null && keys.Suite.Confidentiality == IpmiConfidentialityAlgorithm.AesCbc128;
        var authenticated = keys is not null && keys.Suite.Integrity != IpmiIntegrityAlgorithm.None;

        byte[] body;
        if (encrypted)
        {
            if (iv.Length != IvSize)
            {
                return false;
            }

            var padCount = (16 - ((payload.Length + 1) % 16)) % 16;
            var plain = new byte[payload.Length + padCount + 1];
            payload.CopyTo(plain);
            for (var i = 0; i < padCount; i++)
            {
                plain[payload.Length + i] = (byte)(i + 1);
            }

            plain[^1] = (byte)padCount;
            using var aes = Aes.Create();
            aes.Key = keys!.ConfidentialityKey;
            body = [.. iv, .. aes.EncryptCbc(plain, iv, PaddingMode.None)];
        }
        else
        {
            body = payload.ToArray();
        }

        var integrityPad = authenticated ? (4 - ((SessionHeaderSize + body.Length + 2) % 4)) % 4 : 0;
        var trailer = authenticated ? integrityPad + 2 + keys!.Suite.IntegrityLength : 0;
        var total = PayloadOffset + body.Length + trailer;
        if (destination.Length < total || body.Length > ushort.MaxValue || total > MaximumDatagram)
        {
            return false;
        }

        RmcpHeader.Write(destination);
        destination[SessionOffset] = AuthTypeRmcpPlus;
        destination[PayloadTypeOffset] = (byte)((byte)type | (encrypted ? EncryptedBit : 0) | (authenticated ? AuthenticatedBit : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[SessionIdOffset..], sessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[SequenceOffset..], sequence);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[LengthOffset..], (ushort)body.Length);
        body.CopyTo(destination[PayloadOffset..]);
        if (authenticated)
        {
            var at = PayloadOffset + body.Length;
            destination.Slice(at, integrityPad).Fill(0xFF);
            destination[at + integrityPad] = (byte)integrityPad;
            destination[at + integrityPad + 1] = NextHeader;
            var signedEnd = at + integrityPad + 2;
            var code = keys!.Suite.IntegrityHmac(keys.IntegrityKey, destination[SessionOffset..signedEnd]);
            code.AsSpan(0, keys.Suite.IntegrityLength).CopyTo(destination[signedEnd..]);
        }

        written = total;
        return true;
    }

    /// <summary>
    /// Reads a packet. Inside a session (<paramref name="keys"/> set) only a signed packet is accepted:
    /// its AuthCode is checked before anything else is believed, then the payload is decrypted.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, RmcpPlusSessionKeys? keys, out RmcpPlusPacket packet, out string? error)
    {
        packet = default;
        if (!RmcpHeader.TryRead(datagram, out error))
        {
            return false;
        }

        if (datagram.Length < PayloadOffset)
        {
            error = "shorter than an RMCP+ session header";
            return false;
        }

        if (datagram[SessionOffset] != AuthTypeRmcpPlus)
        {
            error = $"authentication type {datagram[SessionOffset]:X2} is not RMCP+";
            return false;
        }

        var typeByte = datagram[PayloadTypeOffset];
        var encrypted = (typeByte & EncryptedBit) != 0;
        var authenticated = (typeByte & AuthenticatedBit) != 0;
        var type = (IpmiPayloadType)(typeByte & 0x3F);
        if (type == (IpmiPayloadType)0x02)
        {
            error = "OEM explicit payloads are not supported";
            return false;
        }

        var sessionId = BinaryPrimitives.ReadUInt32LittleEndian(datagram[SessionIdOffset..]);
        var sequence = BinaryPrimitives.ReadUInt32LittleEndian(datagram[SequenceOffset..]);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(datagram[LengthOffset..]);
        if (datagram.Length < PayloadOffset + length)
        {
            error = "RMCP+ payload is truncated";
            return false;
        }

        if (keys is not null && keys.Suite.Integrity != IpmiIntegrityAlgorithm.None)
        {
            if (!authenticated)
            {
                error = "unsigned packet inside a session";
                return false;
            }

            var codeLength = keys.Suite.IntegrityLength;
            var signedEnd = datagram.Length - codeLength;
            if (signedEnd < PayloadOffset + length + 2 || datagram[signedEnd - 1] != NextHeader)
            {
                error = "integrity trailer is malformed";
                return false;
            }

            var padCount = datagram[signedEnd - 2];
            if (PayloadOffset + length + padCount + 2 != signedEnd)
            {
                error = "integrity pad length does not match the packet";
                return false;
            }

            var expected = keys.Suite.IntegrityHmac(keys.IntegrityKey, datagram[SessionOffset..signedEnd]);
            if (!CryptographicOperations.FixedTimeEquals(expected.AsSpan(0, codeLength), datagram[signedEnd..]))
            {
                error = "AuthCode does not verify";
                return false;
            }
        }
        else if (authenticated)
        {
            error = "signed packet outside a session";
            return false;
        }

        var body = datagram.Slice(PayloadOffset, length);
        byte[] payload;
        if (encrypted)
        {
            if (keys is null || keys.Suite.Confidentiality != IpmiConfidentialityAlgorithm.AesCbc128)
            {
                error = "encrypted packet without a confidentiality key";
                return false;
            }

            if (body.Length < IvSize + 16 || (body.Length - IvSize) % 16 != 0)
            {
                error = "encrypted payload is not an IV and whole AES blocks";
                return false;
            }

            using var aes = Aes.Create();
            aes.Key = keys.ConfidentialityKey;
            var plain = aes.DecryptCbc(body[IvSize..], body[..IvSize], PaddingMode.None);
            int padCount = plain[^1];
            if (padCount > 15 || padCount + 1 > plain.Length)
            {
                error = "confidentiality pad length is out of range";
                return false;
            }

            for (var i = 0; i < padCount; i++)
            {
                if (plain[plain.Length - 1 - padCount + i] != i + 1)
                {
                    error = "confidentiality pad bytes are wrong";
                    return false;
                }
            }

            payload = plain[..^(padCount + 1)];
        }
        else
        {
            if (keys is not null && keys.Suite.Confidentiality != IpmiConfidentialityAlgorithm.None && type == IpmiPayloadType.IpmiMessage)
            {
                error = "clear-text IPMI message inside an encrypted session";
                return false;
            }

            payload = body.ToArray();
        }

        packet = new RmcpPlusPacket(type, sessionId, sequence, payload, authenticated, encrypted);
        error = null;
        return true;
    }
}
