using System.Buffers.Binary;
using System.Text;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>TCG PC Client event types (TCG PC Client Platform Firmware Profile 1.05, table 9).</summary>
public enum TcgEventType : uint
{
    PrebootCert = 0x00000000,
    PostCode = 0x00000001,
    NoAction = 0x00000003,
    Separator = 0x00000004,
    Action = 0x00000005,
    EventTag = 0x00000006,
    SCrtmContents = 0x00000007,
    SCrtmVersion = 0x00000008,
    CpuMicrocode = 0x00000009,
    PlatformConfigFlags = 0x0000000A,
    TableOfDevices = 0x0000000B,
    CompactHash = 0x0000000C,
    Ipl = 0x0000000D,
    IplPartitionData = 0x0000000E,
    NonhostCode = 0x0000000F,
    NonhostConfig = 0x00000010,
    NonhostInfo = 0x00000011,
    OmitBootDeviceEvents = 0x00000012,
    EfiVariableDriverConfig = 0x80000001,
    EfiVariableBoot = 0x80000002,
    EfiBootServicesApplication = 0x80000003,
    EfiBootServicesDriver = 0x80000004,
    EfiRuntimeServicesDriver = 0x80000005,
    EfiGptEvent = 0x80000006,
    EfiAction = 0x80000007,
    EfiPlatformFirmwareBlob = 0x80000008,
    EfiHandoffTables = 0x80000009,
    EfiPlatformFirmwareBlob2 = 0x8000000A,
    EfiHandoffTables2 = 0x8000000B,
    EfiVariableBoot2 = 0x8000000C,
    EfiHcrtmEvent = 0x80000010,
    EfiVariableAuthority = 0x800000E0,
    EfiSpdmFirmwareBlob = 0x800000E1,
    EfiSpdmFirmwareConfig = 0x800000E2,
}

/// <summary>One measured event (TCG_PCR_EVENT2): the PCR, the type, a digest per bank, and the event data.</summary>
public sealed record TcgEvent(int Index, uint PcrIndex, TcgEventType EventType, IReadOnlyDictionary<TpmAlgId, byte[]> Digests, byte[] Data);

/// <summary>
/// The TCG PC Client crypto-agile event log, as Linux exposes it in
/// <c>/sys/kernel/security/tpm0/binary_bios_measurements</c> (TCG PC Client Platform Firmware Profile 1.05,
/// clause 10). Little-endian, unlike TPM structures.
/// <code>
/// first event (TCG_PCClientPCREvent, SHA-1 format): pcrIndex u32 | eventType u32 (EV_NO_ACTION) | digest[20] | eventSize u32 | TCG_EfiSpecIDEvent
///   TCG_EfiSpecIDEvent: signature "Spec ID Event03\0" | platformClass u32 | minor u8 | major u8 | errata u8 | uintnSize u8
///                       | numberOfAlgorithms u32 | { algorithmId u16 | digestSize u16 }[] | vendorInfoSize u8 | vendorInfo
/// then TCG_PCR_EVENT2:  pcrIndex u32 | eventType u32 | count u32 | { hashAlg u16 | digest[size from the header] }[] | eventSize u32 | event
/// </code>
/// </summary>
public sealed class TcgEventLog
{
    private static readonly byte[] SpecIdSignature = "Spec ID Event03\0"u8.ToArray();
    private static readonly byte[] StartupLocalitySignature = "StartupLocality\0"u8.ToArray();

    private TcgEventLog(IReadOnlyDictionary<TpmAlgId, int> digestSizes, IReadOnlyList<TcgEvent> events, byte startupLocality)
    {
        DigestSizes = digestSizes;
        Events = events;
        StartupLocality = startupLocality;
    }

    /// <summary>The banks the log carries and their digest sizes (from the Spec ID event).</summary>
    public IReadOnlyDictionary<TpmAlgId, int> DigestSizes { get; }

    /// <summary>Every event after the header, in log order (EV_NO_ACTION events included; they are not extended).</summary>
    public IReadOnlyList<TcgEvent> Events { get; }

    /// <summary>The locality of TPM2_Startup from a StartupLocality EV_NO_ACTION event (0 when absent).</summary>
    public byte StartupLocality { get; }

    /// <summary>Parses a crypto-agile log; throws <see cref="AttestationException"/> (Malformed) on any structural error.</summary>
    public static TcgEventLog Parse(ReadOnlySpan<byte> log)
    {
        var pos = 0;
        // Header event in the SHA-1 format.
        var headerPcr = U32(log, ref pos);
        var headerType = (TcgEventType)U32(log, ref pos);
        Take(log, ref pos, 20, "header digest");
        var headerSize = (int)U32(log, ref pos);
        var spec = Take(log, ref pos, headerSize, "Spec ID event");
        if (headerPcr != 0 || headerType != TcgEventType.NoAction || spec.Length < 29 || !spec[..16].SequenceEqual(SpecIdSignature))
        {
            throw Malformed("the first event is not a crypto-agile Spec ID Event03");
        }

        var sp = 24;
        var algorithms = (int)U32(spec, ref sp);
        if (algorithms is < 1 or > 16)
        {
            throw Malformed($"Spec ID event lists {algorithms} algorithms");
        }

        var sizes = new Dictionary<TpmAlgId, int>();
        for (var i = 0; i < algorithms; i++)
        {
            var alg = (TpmAlgId)U16(spec, ref sp);
            var declared = U16(spec, ref sp);
            var known = TpmHash.DigestSize(alg);
            if (known > 0 && declared != known)
            {
                // A bank whose declared size differs from its algorithm's would replay to values no TPM holds.
                throw Malformed($"Spec ID event declares {declared}-byte digests for algorithm 0x{(ushort)alg:x4}, whose digests are {known} bytes");
            }

            sizes[alg] = declared;
        }

        var events = new List<TcgEvent>();
        byte locality = 0;
        while (pos < log.Length)
        {
            var pcr = U32(log, ref pos);
            var type = (TcgEventType)U32(log, ref pos);
            var count = U32(log, ref pos);
            if (count > sizes.Count)
            {
                throw Malformed($"event {events.Count} has {count} digests but the log declares {sizes.Count} banks");
            }

            var digests = new Dictionary<TpmAlgId, byte[]>();
            for (var i = 0; i < count; i++)
            {
                var alg = (TpmAlgId)U16(log, ref pos);
                if (!sizes.TryGetValue(alg, out var size))
                {
                    throw Malformed($"event {events.Count} has a digest for undeclared algorithm 0x{(ushort)alg:x4}");
                }

                digests[alg] = Take(log, ref pos, size, "digest").ToArray();
            }

            var dataSize = (int)U32(log, ref pos);
            var data = Take(log, ref pos, dataSize, "event data").ToArray();
            if (type == TcgEventType.NoAction && pcr == 0 && data.Length == 17 && data.AsSpan(0, 16).SequenceEqual(StartupLocalitySignature))
            {
                locality = data[16];
            }

            events.Add(new TcgEvent(events.Count, pcr, type, digests, data));
        }

        return new TcgEventLog(sizes, events, locality);
    }

    /// <summary>
    /// Replays the log into PCR values for one bank: every PCR that has an event starts at zero (PCR 0 starts
    /// at the startup locality in its last byte) and is extended with <c>H(PCR || digest)</c> per event,
    /// skipping EV_NO_ACTION.
    /// </summary>
    public IReadOnlyDictionary<(TpmAlgId Hash, int Pcr), byte[]> Replay(TpmAlgId bank)
    {
        if (!DigestSizes.TryGetValue(bank, out var size))
        {
            throw new AttestationException(AttestationFailure.Malformed, $"the event log has no bank 0x{(ushort)bank:x4}");
        }

        var pcrs = new Dictionary<(TpmAlgId, int), byte[]>();
        var buffer = new byte[2 * size];
        foreach (var e in Events)
        {
            if (e.EventType == TcgEventType.NoAction || !e.Digests.TryGetValue(bank, out var digest))
            {
                continue;
            }

            var key = (bank, (int)e.PcrIndex);
            if (!pcrs.TryGetValue(key, out var current))
            {
                current = new byte[size];
                if (e.PcrIndex == 0)
                {
                    current[^1] = StartupLocality;
                }
            }

            current.CopyTo(buffer, 0);
            digest.CopyTo(buffer, size);
            pcrs[key] = TpmHash.Compute(bank, buffer);
        }

        return pcrs;
    }

    /// <summary>The EV_EFI_BOOT_SERVICES_APPLICATION events (PCR 4): the boot loaders and kernels the firmware started.</summary>
    public IEnumerable<TcgEvent> BootApplications() => Events.Where(e => e.EventType == TcgEventType.EfiBootServicesApplication);

    /// <summary>A human-readable string for EV_EFI_ACTION/EV_ACTION/EV_POST_CODE data.</summary>
    public static string DescribeData(TcgEvent e) => Encoding.ASCII.GetString(e.Data).TrimEnd('\0');

    private static uint U32(ReadOnlySpan<byte> s, ref int pos) => BinaryPrimitives.ReadUInt32LittleEndian(Take(s, ref pos, 4, "u32"));

    private static ushort U16(ReadOnlySpan<byte> s, ref int pos) => BinaryPrimitives.ReadUInt16LittleEndian(Take(s, ref pos, 2, "u16"));

    private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> s, ref int pos, int count, string what)
    {
        if (count < 0 || s.Length - pos < count)
        {
            throw Malformed($"truncated {what} at offset {pos}");
        }

        var span = s.Slice(pos, count);
        pos += count;
        return span;
    }

    private static AttestationException Malformed(string message) => new(AttestationFailure.Malformed, "event log: " + message);
}
