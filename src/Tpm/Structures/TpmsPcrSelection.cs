using Kldload.Tpm.Marshalling;

namespace Kldload.Tpm.Structures;

/// <summary>
/// TPMS_PCR_SELECTION (TPM 2.0 Part 2, table 94): one bank and a bitmap of its PCRs
/// (bit n of byte n/8 selects PCR n).
/// <code>
/// hash u16 | sizeofSelect u8 | pcrSelect[sizeofSelect]
/// </code>
/// </summary>
public sealed record TpmsPcrSelection(TpmAlgId Hash, byte[] Select) : ITpmStructure<TpmsPcrSelection>
{
    /// <summary>PC Client TPMs have 24 PCRs: three select bytes.</summary>
    public const int PcClientSelectSize = 3;

    public static TpmsPcrSelection Create(TpmAlgId hash, params ReadOnlySpan<int> pcrs)
    {
        var size = PcClientSelectSize;
        foreach (var pcr in pcrs)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(pcr);
            size = Math.Max(size, (pcr / 8) + 1);
        }

        var select = new byte[size];
        foreach (var pcr in pcrs)
        {
            select[pcr / 8] |= (byte)(1 << (pcr % 8));
        }

        return new TpmsPcrSelection(hash, select);
    }

    /// <summary>Selected PCR indices in ascending order (the order the TPM returns and digests them).</summary>
    public IReadOnlyList<int> Indices()
    {
        var list = new List<int>();
        for (var i = 0; i < Select.Length * 8; i++)
        {
            if ((Select[i / 8] & (1 << (i % 8))) != 0)
            {
                list.Add(i);
            }
        }

        return list;
    }

    public bool IsEmpty => Select.All(b => b == 0);

    public static bool TryRead(ref TpmReader reader, out TpmsPcrSelection value)
    {
        var hash = (TpmAlgId)reader.ReadUInt16("TPMS_PCR_SELECTION.hash");
        var size = reader.ReadByte("TPMS_PCR_SELECTION.sizeofSelect");
        var select = reader.ReadBytes(size, "TPMS_PCR_SELECTION.pcrSelect").ToArray();
        value = new TpmsPcrSelection(hash, select);
        return !reader.Failed;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt16((ushort)Hash);
        writer.WriteByte((byte)Select.Length);
        writer.WriteBytes(Select);
    }

    public bool Equals(TpmsPcrSelection? other) => other is not null && Hash == other.Hash && Select.AsSpan().SequenceEqual(other.Select);

    public override int GetHashCode() => HashCode.Combine(Hash, Select.Length);
}

/// <summary>
/// TPML_PCR_SELECTION (TPM 2.0 Part 2, table 111): <c>count u32 | TPMS_PCR_SELECTION[count]</c>.
/// </summary>
public sealed record TpmlPcrSelection(IReadOnlyList<TpmsPcrSelection> Selections) : ITpmStructure<TpmlPcrSelection>
{
    /// <summary>TPM_NUM_PCR_BANKS upper bound used to reject absurd counts.</summary>
    public const int MaxBanks = 16;

    public static TpmlPcrSelection Empty { get; } = new([]);

    public static TpmlPcrSelection Create(TpmAlgId hash, params ReadOnlySpan<int> pcrs) => new([TpmsPcrSelection.Create(hash, pcrs)]);

    public static bool TryRead(ref TpmReader reader, out TpmlPcrSelection value)
    {
        value = Empty;
        var count = reader.ReadUInt32("TPML_PCR_SELECTION.count");
        if (count > MaxBanks)
        {
            reader.Fail($"TPML_PCR_SELECTION.count {count} exceeds {MaxBanks}");
        }

        if (reader.Failed)
        {
            return false;
        }

        var list = new List<TpmsPcrSelection>((int)count);
        for (var i = 0; i < count; i++)
        {
            if (!TpmsPcrSelection.TryRead(ref reader, out var s))
            {
                return false;
            }

            list.Add(s);
        }

        value = new TpmlPcrSelection(list);
        return true;
    }

    public void Write(ref TpmWriter writer)
    {
        writer.WriteUInt32((uint)Selections.Count);
        foreach (var s in Selections)
        {
            s.Write(ref writer);
        }
    }

    /// <summary>Every (bank, PCR) pair in the order a TPM digests them: selections in list order, PCRs ascending.</summary>
    public IEnumerable<(TpmAlgId Hash, int Pcr)> Enumerate()
    {
        foreach (var s in Selections)
        {
            foreach (var pcr in s.Indices())
            {
                yield return (s.Hash, pcr);
            }
        }
    }

    /// <summary>Equal when both list the same banks with the same bitmaps, ignoring trailing zero select bytes.</summary>
    public bool SelectsSame(TpmlPcrSelection other)
    {
        if (other.Selections.Count != Selections.Count)
        {
            return false;
        }

        for (var i = 0; i < Selections.Count; i++)
        {
            var a = Selections[i];
            var b = other.Selections[i];
            if (a.Hash != b.Hash || !a.Indices().SequenceEqual(b.Indices()))
            {
                return false;
            }
        }

        return true;
    }

    public bool Equals(TpmlPcrSelection? other) => other is not null && Selections.SequenceEqual(other.Selections);

    public override int GetHashCode() => Selections.Count;
}
