using Kldload.Tftp.Transfer;

namespace Kldload.Tftp.Tests.Transfer;

/// <summary>The retransmission timeout alone: RFC 6298 smoothing, clamping, back-off and the retry budget.</summary>
public class TftpRttEstimatorTests
{
    private static readonly TimeSpan Min = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(5);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Theory]
    [InlineData(1000, 1000)]
    [InlineData(5, 20)]
    [InlineData(9000, 5000)]
    public void Constructor_Initial_ClampedToBounds(double initialMs, double expectedMs) =>
        Assert.Equal(Ms(expectedMs), new TftpRttEstimator(Ms(initialMs), Min, Max).Timeout);

    [Fact]
    public void Sample_First_TimeoutIsRoundTripPlusFourHalfRoundTrips()
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        rtt.Sample(Ms(100));
        Assert.Equal(Ms(300), rtt.Timeout);
    }

    [Fact]
    public void Sample_Second_SmoothedPerRfc6298Section2()
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        rtt.Sample(Ms(100));
        rtt.Sample(Ms(200));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5.
        Assert.Equal(Ms(112.5 + (4 * 62.5)), rtt.Timeout);
    }

    [Fact]
    public void Sample_SteadyRoundTrip_ConvergesTowardIt()
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        for (var i = 0; i < 200; i++)
        {
            rtt.Sample(Ms(40));
        }

        Assert.InRange(rtt.Timeout.TotalMilliseconds, 40, 41);
    }

    [Theory]
    [InlineData(0, 20)]
    [InlineData(4000, 5000)]
    public void Sample_Extreme_ClampedToBounds(double sampleMs, double expectedMs)
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        rtt.Sample(Ms(sampleMs));
        Assert.Equal(Ms(expectedMs), rtt.Timeout);
    }

    [Fact]
    public void BackOff_Repeated_DoublesUpToTheMaximum()
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        var seen = new List<double>();
        for (var i = 0; i < 4; i++)
        {
            rtt.BackOff();
            seen.Add(rtt.Timeout.TotalSeconds);
        }

        Assert.Equal(new double[] { 2, 4, 5, 5 }, seen);
    }

    [Fact]
    public void BackOff_ThenSample_SampleWins()
    {
        var rtt = new TftpRttEstimator(TimeSpan.FromSeconds(1), Min, Max);
        rtt.BackOff();
        rtt.Sample(Ms(100));
        Assert.Equal(Ms(300), rtt.Timeout);
    }

    [Theory]
    [InlineData(1, 5, 3, 12)] // 1 + 2 + 4 + 5
    [InlineData(1, 5, 0, 1)]
    [InlineData(10, 5, 1, 10)] // an initial timeout above the maximum starts at the maximum
    public void RetryBudget_DoublingTimeouts_Summed(double initialSeconds, double maxSeconds, int retries, double expectedSeconds) =>
        Assert.Equal(
            TimeSpan.FromSeconds(expectedSeconds),
            TftpRttEstimator.RetryBudget(TimeSpan.FromSeconds(initialSeconds), TimeSpan.FromSeconds(maxSeconds), retries));
}
