using System.Buffers.Binary;
using System.Text;

namespace Kldload.Agent.Commissioning;

/// <summary>
/// One SMBIOS structure (DMTF DSP0134 section 6.1): a formatted area, then its string set.
/// <code>
/// offset 0  type    (byte)
///        1  length  (byte, of the formatted area including this header)
///        2  handle  (u16 LE)
///        4  fields of the type ...
/// length    strings, each NUL-terminated, the set ending with an extra NUL ("\0\0" when empty)
/// </code>
/// A string field holds the 1-based number of a string in the set; 0 means none.
/// </summary>
internal sealed record SmbiosStructure(byte Type, ushort Handle, byte[] Formatted, IReadOnlyList<string> Strings)
{
    /// <summary>A byte of the formatted area, or null when the structure is too short to have it (older SMBIOS versions).</summary>
    public byte? Byte(int offset) => offset < Formatted.Length ? Formatted[offset] : null;

    public ushort? Word(int offset) => offset + 2 <= Formatted.Length ? BinaryPrimitives.ReadUInt16LittleEndian(Formatted.AsSpan(offset)) : null;

    public uint? DWord(int offset) => offset + 4 <= Formatted.Length ? BinaryPrimitives.ReadUInt32LittleEndian(Formatted.AsSpan(offset)) : null;

    /// <summary>The string a field at <paramref name="offset"/> names, trimmed; null for none, blank or out of range.</summary>
    public string? String(int offset)
    {
        var n = Byte(offset);
        if (n is null or 0 || n > Strings.Count)
        {
            return null;
        }

        var s = Strings[n.Value - 1].Trim();
        return s.Length == 0 ? null : s;
    }
}

/// <summary>
/// Reads the SMBIOS structure table as Linux exposes it (<c>/sys/firmware/dmi/tables/DMI</c>: the
/// structures only, without the entry point). Stops at type 127 (end of table) or at the first
/// structure that does not fit; a truncated table yields the structures before the damage.
/// </summary>
internal static class SmbiosTable
{
    private const int HeaderLength = 4;
    private const byte EndOfTable = 127;

    public static List<SmbiosStructure> Read(ReadOnlySpan<byte> table)
    {
        var result = new List<SmbiosStructure>();
        var at = 0;
        while (at + HeaderLength <= table.Length)
        {
            var type = table[at];
            var length = table[at + 1];
            if (length < HeaderLength || at + length > table.Length)
            {
                break;
            }

            var handle = BinaryPrimitives.ReadUInt16LittleEndian(table[(at + 2)..]);
            var formatted = table.Slice(at, length).ToArray();
            var strings = new List<string>();
            var p = at + length;
            var terminated = false;
            if (p + 1 < table.Length && table[p] == 0 && table[p + 1] == 0)
            {
                p += 2;
                terminated = true;
            }
            else
            {
                while (p < table.Length)
                {
                    var end = table[p..].IndexOf((byte)0);
                    if (end < 0)
                    {
                        break;
                    }

                    strings.Add(Encoding.Latin1.GetString(table.Slice(p, end)));
                    p += end + 1;
                    if (p < table.Length && table[p] == 0)
                    {
                        p++;
                        terminated = true;
                        break;
                    }
                }
            }

            if (!terminated)
            {
                break;
            }

            result.Add(new SmbiosStructure(type, handle, formatted, strings));
            if (type == EndOfTable)
            {
                break;
            }

            at = p;
        }

        return result;
    }

    /// <summary>
    /// The system UUID of type 1 (offset 8, 16 bytes). Since SMBIOS 2.6 the first three fields are
    /// little-endian (section 7.2.1); all-zero and all-FF mean "not set".
    /// </summary>
    public static string? Uuid(SmbiosStructure system)
    {
        ArgumentNullException.ThrowIfNull(system);
        if (system.Formatted.Length < 0x18)
        {
            return null;
        }

        var b = system.Formatted.AsSpan(8, 16);
        if (!b.ContainsAnyExcept((byte)0) || !b.ContainsAnyExcept((byte)0xff))
        {
            return null;
        }

        var guid = new Guid(b);
        return guid.ToString("D");
    }
}
