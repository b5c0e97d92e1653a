using System.Buffers.Binary;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// Identity Association for Non-temporary Addresses, OPTION_IA_NA (RFC 8415 section 21.4): the
/// client's IAID, the renew (T1) and rebind (T2) times in seconds, and its own options (IAADDR,
/// STATUS_CODE).
/// <code>
/// +---------------------------------------------------------------+
/// |                        IAID (4 octets)                        |  0
/// +---------------------------------------------------------------+
/// |                              T1                               |  4
/// +---------------------------------------------------------------+
/// |                              T2                               |  8
/// +---------------------------------------------------------------+
/// |                         IA_NA-options                         | 12
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
public sealed class IaNa
{
    public const int IaidOffset = 0;
    public const int T1Offset = 4;
    public const int T2Offset = 8;
    public const int OptionsOffset = 12;

    public uint Iaid { get; set; }

    public uint T1 { get; set; }

    public uint T2 { get; set; }

    public Dhcp6Options Options { get; private set; } = new();

    /// <summary>Parses the option data of one IA_NA. Never throws.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out IaNa ia, out Dhcp6ReadError error)
    {
        ia = new IaNa();
        if (data.Length < OptionsOffset)
        {
            error = Dhcp6ReadError.BadOptionLength;
            return false;
        }

        ia.Iaid = BinaryPrimitives.ReadUInt32BigEndian(data[IaidOffset..]);
        ia.T1 = BinaryPrimitives.ReadUInt32BigEndian(data[T1Offset..]);
        ia.T2 = BinaryPrimitives.ReadUInt32BigEndian(data[T2Offset..]);
        if (!Dhcp6Options.TryRead(data[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        ia.Options = options;
        return true;
    }

    /// <summary>The option data.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[OptionsOffset + Options.EncodedLength];
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(IaidOffset), Iaid);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(T1Offset), T1);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(T2Offset), T2);
        Options.Write(bytes.AsSpan(OptionsOffset));
        return bytes;
    }
}
