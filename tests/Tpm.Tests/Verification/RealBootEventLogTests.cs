using System.Globalization;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Verification;

/// <summary>The event log of a real OVMF + swtpm boot (TestData/ovmf/README.md) against the PCRs the guest read.</summary>
public class RealBootEventLogTests
{
    private static TcgEventLog Log() => TcgEventLog.Parse(File.ReadAllBytes(TestVectors.PathOf("ovmf/binary_bios_measurements")));

    private static Dictionary<int, byte[]> GuestPcrs() => File.ReadAllLines(TestVectors.PathOf("ovmf/pcrs-sha256.txt"))
        .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        .ToDictionary(p => int.Parse(p[0], CultureInfo.InvariantCulture), p => Convert.FromHexString(p[1]));

    [Fact]
    public void Replay_OvmfBoot_EqualsPcrsReadInGuest()
    {
        var log = Log();
        Assert.Equal(new[] { TpmAlgId.Sha1, TpmAlgId.Sha256, TpmAlgId.Sha384, TpmAlgId.Sha512 }, log.DigestSizes.Keys.Order());
        var replay = log.Replay(TpmAlgId.Sha256);
        var guest = GuestPcrs();
        Assert.Equal(24, guest.Count);
        foreach (var ((_, pcr), value) in replay)
        {
            Assert.Equal(Convert.ToHexString(guest[pcr]), Convert.ToHexString(value));
        }

        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], replay.Keys.Select(k => k.Pcr).Where(p => p < 8).Order());
    }

    [Fact]
    public void Replay_TamperedEventDigest_NoLongerMatches()
    {
        var bytes = File.ReadAllBytes(TestVectors.PathOf("ovmf/binary_bios_measurements"));
        var log = TcgEventLog.Parse(bytes);
        var target = log.BootApplications().Last().Digests[TpmAlgId.Sha256];
        var at = bytes.AsSpan().IndexOf(target);
        bytes[at] ^= 1;
        var replay = TcgEventLog.Parse(bytes).Replay(TpmAlgId.Sha256);
        Assert.NotEqual(GuestPcrs()[4], replay[(TpmAlgId.Sha256, 4)]);
        Assert.Equal(GuestPcrs()[0], replay[(TpmAlgId.Sha256, 0)]);
    }

    [Fact]
    public void Events_OvmfBoot_KernelMeasurementEqualsItsAuthenticodeDigest()
    {
        var log = Log();
        var apps = log.BootApplications().ToList();
        Assert.Equal(2, apps.Count); // the UEFI Shell, then the kernel it started
        var kernel = Convert.FromHexString(File.ReadAllText(TestVectors.PathOf("ovmf/vmlinuz-6.1.0-56-amd64.sha256-authenticode.txt")).Trim());
        Assert.Equal(kernel, apps[1].Digests[TpmAlgId.Sha256]);
        Assert.All(apps, a => Assert.Equal(4u, a.PcrIndex));
        Assert.All(Enumerable.Range(0, 8), pcr => Assert.Contains(log.Events, e => e.PcrIndex == pcr && e.EventType == TcgEventType.Separator));
        Assert.Contains(log.Events, e => e.EventType == TcgEventType.EfiVariableDriverConfig && e.PcrIndex == 7);
    }

    [Fact]
    public void PcrDigest_GuestPcrsInQuoteOrder_MatchesReplayDigest()
    {
        var selection = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7);
        var guest = GuestPcrs().ToDictionary(p => (TpmAlgId.Sha256, p.Key), p => p.Value);
        Assert.Equal(QuoteVerifier.PcrDigest(TpmAlgId.Sha256, selection, guest), QuoteVerifier.PcrDigest(TpmAlgId.Sha256, selection, Log().Replay(TpmAlgId.Sha256)));
    }
}
