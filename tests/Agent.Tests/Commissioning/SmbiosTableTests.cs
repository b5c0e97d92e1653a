using Kldload.Agent.Commissioning;

namespace Kldload.Agent.Tests.Commissioning;

public sealed class SmbiosTableTests
{
    private static byte[] QemuTable() => File.ReadAllBytes(Path.Combine(FactsCollectorTests.Tree("qemu"), "sys", "firmware", "dmi", "tables", "DMI"));

    [Fact]
    public void Read_QemuTable_EveryStructureToTheEnd()
    {
        var structures = SmbiosTable.Read(QemuTable());
        Assert.Equal([0, 1, 3, 17, 17, 17, 127], structures.Select(s => (int)s.Type));
        Assert.Equal("KLD-SERIAL-1", structures[1].String(0x07));
        Assert.Null(structures[1].String(0x19)); // string number 0: none
        Assert.Null(structures[0].String(0x40)); // beyond the formatted area
    }

    [Fact]
    public void Read_EveryTruncation_ReturnsOnlyWholeStructuresAndNeverThrows()
    {
        var table = QemuTable();
        var whole = SmbiosTable.Read(table);
        for (var length = 0; length < table.Length; length++)
        {
            var prefix = SmbiosTable.Read(table.AsSpan(0, length));
            Assert.True(prefix.Count < whole.Count, $"length {length}");
            for (var i = 0; i < prefix.Count; i++)
            {
                Assert.Equal(whole[i].Formatted, prefix[i].Formatted);
                Assert.Equal(whole[i].Strings, prefix[i].Strings);
            }
        }
    }

    [Fact]
    public void Read_EveryBitFlip_NeverThrows()
    {
        var table = QemuTable();
        for (var bit = 0; bit < table.Length * 8; bit++)
        {
            var flipped = (byte[])table.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            foreach (var s in SmbiosTable.Read(flipped))
            {
                _ = SmbiosTable.Uuid(s);
                _ = s.String(0x04);
            }
        }
    }
}
