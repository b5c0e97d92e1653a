using System.Buffers.Binary;
using System.Net;

namespace Kldload.Dhcp.Dhcp6.Protocol;

/// <summary>
/// OPTION_IAADDR (RFC 8415 section 21.6): one address of an IA with its preferred and valid
/// lifetimes in seconds, and its own options (STATUS_CODE).
/// <code>
/// +---------------------------------------------------------------+
/// |                         IPv6-address (16)                     |  0
/// +---------------------------------------------------------------+
/// |                      preferred-lifetime                       | 16
/// +---------------------------------------------------------------+
/// |                        valid-lifetime                         | 20
/// +---------------------------------------------------------------+
/// |                        IAaddr-options                         | 24
/// +---------------------------------------------------------------+
/// </code>
/// </summary>
public sealed class IaAddress
{
    public const int AddressOffset = 0;
    public const int PreferredOffset = 16;
    public const int ValidOffset = 20;
    public const int OptionsOffset = 24;

    public IPAddress Address { get; set; } = IPAddress.IPv6None;

    public uint PreferredLifetime { get; set; }

    public uint ValidLifetime { get; set; }

    public Dhcp6Options Options { get; private set; } = new();

    /// <summary>Parses the option data of one IAADDR. Never throws.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out IaAddress address, out Dhcp6ReadError error)
    {
        address = new IaAddress();
        if (data.Length < OptionsOffset)
        {
            error = Dhcp6ReadError.BadOptionLength;
            return false;
        }

        address.Address = new IPAddress(data.Slice(AddressOffset, 16));
        address.PreferredLifetime = BinaryPrimitives.ReadUInt32BigEndian(data[PreferredOffset..]);
        address.ValidLifetime = BinaryPrimitives.ReadUInt32BigEndian(data[ValidOffset..]);
        if (!Dhcp6Options.TryRead(data[OptionsOffset..], out var options, out error))
        {
            return false;
        }

        address.Options = options;
        return true;
    }

    /// <summary>The option data.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[OptionsOffset + Options.EncodedLength];
        Address.TryWriteBytes(bytes.AsSpan(AddressOffset, 16), out _);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(PreferredOffset), PreferredLifetime);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(ValidOffset), ValidLifetime);
        Options.Write(bytes.AsSpan(OptionsOffset));
        return bytes;
    }
}
