using Kldload.Dhcp.Protocol;

namespace Kldload.Dhcp.Server;

/// <summary>What a reservation was matched on, in the order the engine tries them.</summary>
public enum DhcpReservationKind : byte
{
    /// <summary>chaddr (<c>Dhcp:Reservations:N:Mac</c>).</summary>
    HardwareAddress = 1,

    /// <summary>Option 61, client identifier (RFC 2132 section 9.14).</summary>
    ClientId = 2,

    /// <summary>Option 82 circuit id and/or remote id (RFC 3046), from a relayed request only.</summary>
    RelayAgent = 3,
}

/// <summary>
/// A fixed address (<c>Dhcp:Reservations:N</c>) for one hardware address, one client identifier, or one
/// switch port as the relay names it in option 82. Exactly one kind of key is set: a hardware address,
/// a client identifier, or a circuit id and/or remote id (both must match when both are given).
/// </summary>
public sealed record DhcpReservation
{
    public required Ipv4Address Address { get; init; }

    /// <summary>Sent as option 12 and stored with the lease.</summary>
    public string? HostName { get; init; }

    /// <summary>chaddr as <c>aa:bb:cc:dd:ee:ff</c> (lower case).</summary>
    public string? HardwareAddress { get; init; }

    /// <summary>Option 61 exactly as the client sends it (type byte included).</summary>
    public byte[]? ClientId { get; init; }

    /// <summary>Option 82 sub-option 1 (agent circuit id).</summary>
    public RelayIdMatch? CircuitId { get; init; }

    /// <summary>Option 82 sub-option 2 (agent remote id).</summary>
    public RelayIdMatch? RemoteId { get; init; }

    public DhcpReservationKind Kind => HardwareAddress is not null ? DhcpReservationKind.HardwareAddress
        : ClientId is not null ? DhcpReservationKind.ClientId
        : DhcpReservationKind.RelayAgent;

    /// <summary>A MAC reservation (the common case).</summary>
    public static DhcpReservation ForHardwareAddress(string hardwareAddress, Ipv4Address address, string? hostName = null) =>
        new() { HardwareAddress = hardwareAddress.ToLowerInvariant(), Address = address, HostName = hostName };

    /// <summary>What the reservation matches, for logs and the admin API: <c>mac 52:54:..</c>, <c>circuit-id Gi1/0/7</c>.</summary>
    public override string ToString() => Kind switch
    {
        DhcpReservationKind.HardwareAddress => $"mac {HardwareAddress}",
        DhcpReservationKind.ClientId => $"client-id {Convert.ToHexStringLower(ClientId!)}",
        _ => string.Join(' ', new[] { CircuitId is { } c ? $"circuit-id {c}" : null, RemoteId is { } r ? $"remote-id {r}" : null }.OfType<string>()),
    };
}

/// <summary>
/// How a reservation matches one option 82 sub-option: the exact bytes, or a glob pattern over the value
/// read as text (<c>*</c> any run of characters, <c>?</c> one character; Latin-1, so every byte is one
/// character). Switches name ports in ASCII (<c>Gi1/0/7</c>, <c>rack12-slot7</c>), so text covers almost all.
/// </summary>
public sealed record RelayIdMatch
{
    private RelayIdMatch(byte[]? exact, string? pattern)
    {
        Exact = exact;
        Pattern = pattern;
    }

    /// <summary>The exact value; null for a pattern.</summary>
    public byte[]? Exact { get; }

    /// <summary>The glob pattern; null for an exact value.</summary>
    public string? Pattern { get; }

    public bool IsPattern => Pattern is not null;

    public static RelayIdMatch ExactValue(byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new RelayIdMatch((byte[])value.Clone(), null);
    }

    public static RelayIdMatch Glob(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return new RelayIdMatch(null, pattern);
    }

    public bool Matches(byte[]? value)
    {
        if (value is null)
        {
            return false;
        }

        return Exact is { } exact ? exact.AsSpan().SequenceEqual(value) : GlobMatches(Pattern!, Latin1(value));
    }

    /// <summary>Printable values as text, others as <c>hex:..</c>.</summary>
    public override string ToString() => Exact is { } e ? Describe(e) : Pattern!;

    /// <summary>An option 82 value for people: the text when every byte is printable ASCII, else <c>hex:</c> and the bytes.</summary>
    public static string Describe(byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Length > 0 && value.All(b => b is >= 0x20 and < 0x7f) ? Latin1(value) : "hex:" + Convert.ToHexStringLower(value);
    }

    private static string Latin1(byte[] value) => System.Text.Encoding.Latin1.GetString(value);

    /// <summary>Iterative glob match with one backtrack point (linear in practice, never exponential).</summary>
    internal static bool GlobMatches(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
