using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Kldload.MeshCA.Addressing;

/// <summary>Settings of the mesh address plan (from <c>Mesh:Prefix6</c>, <c>Mesh:Cidr4</c>, <c>Mesh:AddressQuarantine</c>).</summary>
public sealed record MeshAddressingOptions
{
    /// <summary>The mesh's unique local /64; null = generated once (RFC 4193 section 3.2) and kept in the store.</summary>
    public IPNetwork? Prefix6 { get; init; }

    /// <summary>Optional IPv4 pool (prefix length 8 to 30).</summary>
    public IPNetwork? Cidr4 { get; init; }

    /// <summary>How long a released address stays out of use.</summary>
    public TimeSpan Quarantine { get; init; } = TimeSpan.FromDays(30);
}

/// <summary>The mesh addresses of one node (or of the hub).</summary>
public sealed record MeshAddresses(string NodeId, IPAddress Address6, IPAddress? Address4);

/// <summary>Thrown when the IPv4 pool has no free address left (IPv6 cannot run out).</summary>
public sealed class MeshAddressExhaustedException(string message) : Exception(message);

/// <summary>
/// Mesh IPAM. The IPv6 address of a node is the mesh /64 followed by the first 64 bits of
/// SHA-256(EK public), so a reimage keeps the address and new hardware gets a new one. If that
/// interface id is taken (by another node, or by a released address still in quarantine), the next
/// candidate is the first 64 bits of SHA-256(ekSha256 || "kldload/mesh/collision" || i) for i = 1, 2,
/// ...: deterministic, so the same allocations in the same order give the same addresses. The hub
/// has <c>prefix::1</c> and the first IPv4 host address; interface ids below 0x100 and the RFC 2526
/// subnet anycast range are never given to nodes.
/// </summary>
public sealed class MeshAddressAllocator
{
    /// <summary>Store key of the generated /64.</summary>
    public const string Prefix6Setting = "prefix6";

    /// <summary>Interface id of the hub.</summary>
    public const ulong HubInterfaceId = 1;

    private const ulong FirstNodeInterfaceId = 0x100;
    private const ulong FirstAnycastInterfaceId = 0xFDFF_FFFF_FFFF_FF80; // RFC 2526 section 2
    private const int MaxCollisionProbes = 1024;
    private const int MaxConflictRetries = 16;

    private readonly IMeshAddressStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _quarantine;
    private readonly Lock _gate = new();
    private readonly ulong _prefix;
    private readonly uint _network4;
    private readonly uint _size4;

    public MeshAddressAllocator(IMeshAddressStore store, MeshAddressingOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        _time = time;
        _quarantine = options.Quarantine;

        Prefix6 = options.Prefix6 ?? LoadOrGeneratePrefix(store);
        if (Prefix6.PrefixLength != 64 || Prefix6.BaseAddress.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"the mesh prefix must be an IPv6 /64, got {Prefix6}", nameof(options));
        }

        _prefix = BinaryPrimitives.ReadUInt64BigEndian(Prefix6.BaseAddress.GetAddressBytes());
        HubAddress6 = Compose6(HubInterfaceId);

        if (options.Cidr4 is { } v4)
        {
            if (v4.BaseAddress.AddressFamily != AddressFamily.InterNetwork || v4.PrefixLength is < 8 or > 30)
            {
                throw new ArgumentException($"the IPv4 mesh pool must be an IPv4 prefix of length 8 to 30, got {v4}", nameof(options));
            }

            Cidr4 = v4;
            _network4 = BinaryPrimitives.ReadUInt32BigEndian(v4.BaseAddress.GetAddressBytes());
            _size4 = 1u << (32 - v4.PrefixLength);
            HubAddress4 = ToAddress4(_network4 + 1);
        }
    }

    /// <summary>The mesh /64 in use (configured or generated).</summary>
    public IPNetwork Prefix6 { get; }

    public IPNetwork? Cidr4 { get; }

    /// <summary><c>prefix::1</c>.</summary>
    public IPAddress HubAddress6 { get; }

    /// <summary>The first host address of the IPv4 pool, when there is one.</summary>
    public IPAddress? HubAddress4 { get; }

    /// <summary>
    /// The node's addresses: its current ones if it holds any (whatever hardware it now has: a
    /// replacement keeps the identity), otherwise new ones derived from <paramref name="ekSha256"/>.
    /// A save the store refuses as a conflict (<see cref="MeshAddressConflictException"/>: another
    /// provisioner sharing the store took the address first) is retried from a fresh read.
    /// </summary>
    public MeshAddresses Allocate(string nodeId, ReadOnlySpan<byte> ekSha256)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        if (ekSha256.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("the EK fingerprint is a 32-byte SHA-256 digest", nameof(ekSha256));
        }

        var ekHex = Convert.ToHexStringLower(ekSha256);
        var ek = ekSha256.ToArray();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return AllocateOnce(nodeId, ekHex, ek);
            }
            catch (MeshAddressConflictException) when (attempt < MaxConflictRetries)
            {
                // Another provisioner on the same database took the address between our check and our
                // save: read again, and the probe moves past it.
            }
        }
    }

    private MeshAddresses AllocateOnce(string nodeId, string ekHex, byte[] ek)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var records = _store.FindByNode(nodeId);
            if (records.FirstOrDefault(r => r.IsActive) is { } active)
            {
                var updated = WithAddress4(active with { EkSha256 = ekHex }, ek, now);
                if (updated != active)
                {
                    _store.Save(updated);
                }

                return ToAddresses(updated);
            }

            // The same node on the same hardware, back within its quarantine: give the address back.
            if (records.FirstOrDefault(r => r.EkSha256 == ekHex && !IsQuarantineOver(r, now)) is { } mine)
            {
                var reclaimed = WithAddress4(mine with { ReleasedAt = null, AllocatedAt = now }, ek, now);
                _store.Save(reclaimed);
                return ToAddresses(reclaimed);
            }

            var interfaceId = FindFreeInterfaceId(ek, now);
            uint? address4 = Cidr4 is null ? null : FindFreeAddress4(ek, now);
            var record = new MeshAddressRecord
            {
                InterfaceId = interfaceId,
                Address4 = address4,
                NodeId = nodeId,
                EkSha256 = ekHex,
                AllocatedAt = now,
            };
            _store.Save(record);
            return ToAddresses(record);
        }
    }

    /// <summary>The node's active addresses, or null.</summary>
    public MeshAddresses? Find(string nodeId)
    {
        lock (_gate)
        {
            return _store.FindByNode(nodeId).FirstOrDefault(r => r.IsActive) is { } r ? ToAddresses(r) : null;
        }
    }

    /// <summary>The SHA-256 of the EK the node's active addresses were allocated for, or null.</summary>
    public byte[]? FindEkSha256(string nodeId)
    {
        lock (_gate)
        {
            return _store.FindByNode(nodeId).FirstOrDefault(r => r.IsActive) is { } r ? Convert.FromHexString(r.EkSha256) : null;
        }
    }

    /// <summary>Every node's active addresses.</summary>
    public IReadOnlyList<MeshAddresses> ListActive()
    {
        lock (_gate)
        {
            return [.. _store.All().Where(r => r.IsActive).Select(ToAddresses)];
        }
    }

    /// <summary>Releases the node's addresses into quarantine (decommission). False if it held none.</summary>
    public bool Release(string nodeId)
    {
        lock (_gate)
        {
            var active = _store.FindByNode(nodeId).FirstOrDefault(r => r.IsActive);
            if (active is null)
            {
                return false;
            }

            _store.Save(active with { ReleasedAt = _time.GetUtcNow() });
            return true;
        }
    }

    /// <summary>Deletes released records whose quarantine is over. Returns how many.</summary>
    public int PurgeExpired()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var expired = _store.All().Where(r => IsQuarantineOver(r, now)).ToList();
            foreach (var r in expired)
            {
                _store.Delete(r.InterfaceId);
            }

            return expired.Count;
        }
    }

    /// <summary>The IPv6 address with interface id <paramref name="interfaceId"/> in the mesh prefix.</summary>
    public IPAddress Compose6(ulong interfaceId)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _prefix);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], interfaceId);
        return new IPAddress(bytes);
    }

    /// <summary>Candidate <paramref name="probe"/> for an EK: probe 0 is the first 64 bits of the EK hash itself.</summary>
    public static ulong CandidateInterfaceId(ReadOnlySpan<byte> ekSha256, int probe)
    {
        if (probe == 0)
        {
            return BinaryPrimitives.ReadUInt64BigEndian(ekSha256);
        }

        Span<byte> input = stackalloc byte[32 + 22 + 4];
        ekSha256.CopyTo(input);
        "kldload/mesh/collision"u8.CopyTo(input[32..]);
        BinaryPrimitives.WriteInt32BigEndian(input[54..], probe);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }

    /// <summary>Generates an RFC 4193 prefix: fd, a random 40-bit global id, subnet id 0001.</summary>
    public static IPNetwork GeneratePrefix6()
    {
        var bytes = new byte[16];
        bytes[0] = 0xFD;
        RandomNumberGenerator.Fill(bytes.AsSpan(1, 5));
        bytes[7] = 0x01;
        return new IPNetwork(new IPAddress(bytes), 64);
    }

    private static IPNetwork LoadOrGeneratePrefix(IMeshAddressStore store)
    {
        if (store.GetSetting(Prefix6Setting) is { } saved && IPNetwork.TryParse(saved, out var parsed))
        {
            return parsed;
        }

        // Another provisioner on the same store may generate one at the same moment: the first stored wins.
        var stored = store.AddSettingIfAbsent(Prefix6Setting, GeneratePrefix6().ToString());
        return IPNetwork.Parse(stored);
    }

    private ulong FindFreeInterfaceId(byte[] ek, DateTimeOffset now)
    {
        for (var probe = 0; probe < MaxCollisionProbes; probe++)
        {
            var candidate = CandidateInterfaceId(ek, probe);
            if (candidate is < FirstNodeInterfaceId or >= FirstAnycastInterfaceId)
            {
                continue;
            }

            var holder = _store.FindByInterfaceId(candidate);
            if (holder is null)
            {
                return candidate;
            }

            if (IsQuarantineOver(holder, now))
            {
                _store.Delete(candidate);
                return candidate;
            }
        }

        throw new MeshAddressExhaustedException("no free IPv6 interface id after 1024 probes: the mesh address store is corrupt");
    }

    /// <summary>Gives a record an IPv4 address when the pool was added after it was allocated (or its address was reused).</summary>
    private MeshAddressRecord WithAddress4(MeshAddressRecord r, byte[] ek, DateTimeOffset now) =>
        Cidr4 is not null && r.Address4 is null ? r with { Address4 = FindFreeAddress4(ek, now) } : r;

    private uint FindFreeAddress4(byte[] ek, DateTimeOffset now)
    {
        // Hosts are network+2 .. broadcast-1 (network+1 is the hub). Start at an EK-derived offset
        // and walk up, so the walk is deterministic and spreads nodes over the pool.
        var hosts = _size4 - 3;
        var start = (uint)(BinaryPrimitives.ReadUInt64BigEndian(ek.AsSpan(8)) % hosts);
        for (uint i = 0; i < hosts; i++)
        {
            var address = _network4 + 2 + ((start + i) % hosts);
            var holder = _store.FindByAddress4(address);
            if (holder is null)
            {
                return address;
            }

            if (IsQuarantineOver(holder, now))
            {
                _store.Save(holder with { Address4 = null });
                return address;
            }
        }

        throw new MeshAddressExhaustedException($"the IPv4 mesh pool {Cidr4} has no free address (released ones are quarantined for {_quarantine})");
    }

    private bool IsQuarantineOver(MeshAddressRecord r, DateTimeOffset now) =>
        r.ReleasedAt is { } released && now - released >= _quarantine;

    private MeshAddresses ToAddresses(MeshAddressRecord r) =>
        new(r.NodeId, Compose6(r.InterfaceId), r.Address4 is { } v4 ? ToAddress4(v4) : null);

    private static IPAddress ToAddress4(uint address)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, address);
        return new IPAddress(b);
    }
}
