namespace Kldload.Bmc.Ipmi.Protocol;

/// <summary>
/// Get Chassis Status response data after the completion code (IPMI 2.0 section 28.2, table 28-3).
/// <code>
///  0                      1                  2                 3 (optional)
/// +----------------------+------------------+-----------------+-------------------+
/// | power state (bit0 on)| last power event | misc chassis    | front panel       |
/// +----------------------+------------------+-----------------+-------------------+
/// </code>
/// </summary>
public readonly record struct ChassisStatus(bool PowerOn, byte PowerState, byte LastPowerEvent, byte MiscState)
{
    public const int MinimumSize = 3;

    public static bool TryRead(ReadOnlySpan<byte> data, out ChassisStatus status, out string? error)
    {
        status = default;
        if (data.Length < MinimumSize)
        {
            error = "Get Chassis Status response is shorter than 3 bytes";
            return false;
        }

        status = new ChassisStatus((data[0] & 0x01) != 0, data[0], data[1], data[2]);
        error = null;
        return true;
    }
}

/// <summary>Chassis Control request values (IPMI 2.0 section 28.3, table 28-4).</summary>
public enum ChassisControl : byte
{
    PowerDown = 0x00,
    PowerUp = 0x01,
    PowerCycle = 0x02,
    HardReset = 0x03,
    PulseDiagnosticInterrupt = 0x04,
    SoftShutdown = 0x05,
}

/// <summary>Boot device selector of the boot flags parameter (IPMI 2.0 table 28-14, data 2 bits 5:2).</summary>
public enum BootDevice : byte
{
    NoOverride = 0x0,
    Pxe = 0x1,
    Disk = 0x2,
    DiskSafeMode = 0x3,
    Diagnostic = 0x4,
    Cdrom = 0x5,
    BiosSetup = 0x6,
}

/// <summary>
/// The boot flags boot option parameter, selector 5 (IPMI 2.0 section 28.13, table 28-14).
/// <code>
///  data 1                                   data 2                 data 3..5
/// +----+-----------+---------+------------+----------------------+-----------+
/// | b7 valid | b6 persistent | b5 EFI     | b5:2 device selector | 00 00 00  |
/// +----------+---------------+------------+----------------------+-----------+
/// </code>
/// Persistent clear means the override applies to the next boot only.
/// </summary>
public readonly record struct BootFlags(bool Valid, bool Persistent, bool Efi, BootDevice Device)
{
    public const byte ParameterSelector = 0x05;
    public const int Size = 5;

    public void Write(Span<byte> destination)
    {
        destination[..Size].Clear();
        destination[0] = (byte)((Valid ? 0x80 : 0) | (Persistent ? 0x40 : 0) | (Efi ? 0x20 : 0));
        destination[1] = (byte)(((byte)Device & 0x0F) << 2);
    }

    /// <summary>Reads Get System Boot Options response data: version, selector, then the 5 flag bytes.</summary>
    public static bool TryReadResponse(ReadOnlySpan<byte> data, out BootFlags flags, out string? error)
    {
        flags = default;
        if (data.Length < 2 + Size)
        {
            error = "Get System Boot Options response for boot flags is shorter than 7 bytes";
            return false;
        }

        if ((data[1] & 0x7F) != ParameterSelector)
        {
            error = $"Get System Boot Options answered parameter {data[1] & 0x7F}, not 5";
            return false;
        }

        var d = data[2..];
        flags = new BootFlags((d[0] & 0x80) != 0, (d[0] & 0x40) != 0, (d[0] & 0x20) != 0, (BootDevice)((d[1] >> 2) & 0x0F));
        error = null;
        return true;
    }
}

/// <summary>
/// Get Channel Authentication Capabilities response data (IPMI 2.0 section 22.13, table 22-15).
/// <code>
///  0        1                       2        3                   4..6     7
/// +--------+-----------------------+--------+-------------------+--------+---------+
/// | channel| b7 IPMI 2.0 ext; types| flags  | b1 IPMI 2.0 conns | OEM ID | OEM aux |
/// +--------+-----------------------+--------+-------------------+--------+---------+
/// </code>
/// </summary>
public readonly record struct ChannelAuthenticationCapabilities(byte Channel, bool SupportsIpmi20)
{
    public const int Size = 8;

    public static bool TryRead(ReadOnlySpan<byte> data, out ChannelAuthenticationCapabilities capabilities, out string? error)
    {
        capabilities = default;
        if (data.Length < Size)
        {
            error = "Get Channel Authentication Capabilities response is shorter than 8 bytes";
            return false;
        }

        capabilities = new ChannelAuthenticationCapabilities(data[0], (data[1] & 0x80) != 0 && (data[3] & 0x02) != 0);
        error = null;
        return true;
    }
}
