using Kldload.Bmc.Ipmi;

namespace Kldload.Bmc.Tests.Ipmi;

/// <summary>The inbound session sequence window: new numbers in, repeats and stale ones out.</summary>
public sealed class ReplayWindowTests
{
    [Fact]
    public void TryAccept_IncreasingNumbers_AllTaken()
    {
        var w = new IpmiReplayWindow();
        for (uint s = 1; s <= 100; s++)
        {
            Assert.True(w.TryAccept(s));
        }
    }

    [Fact]
    public void TryAccept_SameNumberTwice_SecondDropped()
    {
        var w = new IpmiReplayWindow();
        Assert.True(w.TryAccept(5));
        Assert.False(w.TryAccept(5));
        Assert.True(w.TryAccept(6));
        Assert.False(w.TryAccept(5));
        Assert.False(w.TryAccept(6));
    }

    [Fact]
    public void TryAccept_Zero_NeverTaken() => Assert.False(new IpmiReplayWindow().TryAccept(0));

    [Fact]
    public void TryAccept_ReorderedInsideTheWindow_TakenOnce()
    {
        var w = new IpmiReplayWindow();
        Assert.True(w.TryAccept(40));
        Assert.True(w.TryAccept(38));
        Assert.True(w.TryAccept(39));
        Assert.False(w.TryAccept(38));
        Assert.True(w.TryAccept(40 - IpmiReplayWindow.Size + 1));
        Assert.False(w.TryAccept(40 - IpmiReplayWindow.Size));
    }

    [Fact]
    public void TryAccept_BigJump_OldNumbersFallOutOfTheWindow()
    {
        var w = new IpmiReplayWindow();
        Assert.True(w.TryAccept(3));
        Assert.True(w.TryAccept(1000));
        Assert.False(w.TryAccept(3));
        Assert.True(w.TryAccept(999));
        Assert.False(w.TryAccept(1000));
    }

    [Fact]
    public void Reset_NewSession_NumbersStartAgain()
    {
        var w = new IpmiReplayWindow();
        Assert.True(w.TryAccept(7));
        w.Reset();
        Assert.True(w.TryAccept(7));
    }
}
