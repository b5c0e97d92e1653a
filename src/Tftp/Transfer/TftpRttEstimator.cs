namespace Kldload.Tftp.Transfer;

/// <summary>
/// Owns the retransmission timeout of one transfer: the smoothed round trip and its variance
/// (RFC 6298 section 2, with the clock granularity folded into the minimum), the doubling on each
/// timeout (RFC 6298 section 5.5), and the bounds <c>[minimum, maximum]</c> every value is clamped to.
/// Which samples to feed it (Karn's rule: none from retransmitted blocks) is the caller's choice.
/// Not thread-safe: the transfer that owns it serialises access.
/// </summary>
internal sealed class TftpRttEstimator
{
    private readonly TimeSpan _minimum;
    private readonly TimeSpan _maximum;
    private double _smoothedMs = -1;
    private double _variationMs;

    /// <summary>Starts at <paramref name="initial"/>, clamped to <c>[minimum, maximum]</c>, with no sample yet.</summary>
    public TftpRttEstimator(TimeSpan initial, TimeSpan minimum, TimeSpan maximum)
    {
        _minimum = minimum;
        _maximum = maximum;
        Timeout = Clamp(initial);
    }

    /// <summary>The current retransmission timeout.</summary>
    public TimeSpan Timeout { get; private set; }

    /// <summary>Folds one measured round trip into the estimate and recomputes <see cref="Timeout"/>.</summary>
    public void Sample(TimeSpan roundTrip)
    {
        var r = roundTrip.TotalMilliseconds;
        if (_smoothedMs < 0)
        {
            _smoothedMs = r;
            _variationMs = r / 2;
        }
        else
        {
            _variationMs = (0.75 * _variationMs) + (0.25 * Math.Abs(_smoothedMs - r));
            _smoothedMs = (0.875 * _smoothedMs) + (0.125 * r);
        }

        Timeout = Clamp(TimeSpan.FromMilliseconds(_smoothedMs + (4 * _variationMs)));
    }

    /// <summary>A timeout fired: doubles <see cref="Timeout"/>, up to the maximum.</summary>
    public void BackOff() => Timeout = Timeout + Timeout > _maximum ? _maximum : Timeout + Timeout;

    /// <summary>
    /// Time <paramref name="retries"/> retransmissions take when the timeout starts at
    /// <paramref name="initial"/> and doubles up to <paramref name="maximum"/> (the first send included).
    /// </summary>
    public static TimeSpan RetryBudget(TimeSpan initial, TimeSpan maximum, int retries)
    {
        var total = TimeSpan.Zero;
        var rto = initial < maximum ? initial : maximum;
        for (var i = 0; i <= retries; i++)
        {
            total += rto;
            rto = rto + rto > maximum ? maximum : rto + rto;
        }

        return total;
    }

    private TimeSpan Clamp(TimeSpan rto) => rto < _minimum ? _minimum : rto > _maximum ? _maximum : rto;
}
