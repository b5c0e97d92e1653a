using System.Diagnostics;
using System.Globalization;

namespace Kldload.Agent;

/// <summary>
/// Times the agent's console lines: seconds since the kernel started (<c>/proc/uptime</c>, read once,
/// then a monotonic stopwatch) and since the previous line, so every boot log shows where the time
/// goes (TPM, EK, AK, quote, activate, WireGuard, ready).
/// </summary>
internal static class StepClock
{
    private static readonly double StartUptime = ReadUptime();
    private static readonly Stopwatch Since = Stopwatch.StartNew();
    private static readonly Lock Gate = new();
    private static double _previous = StartUptime;

    /// <summary><c>t=12.34s +0.21s</c>: now, and the time since the previous mark.</summary>
    public static string Mark()
    {
        lock (Gate)
        {
            var now = StartUptime + Since.Elapsed.TotalSeconds;
            var text = string.Create(CultureInfo.InvariantCulture, $"t={now:F2}s +{now - _previous:F2}s");
            _previous = now;
            return text;
        }
    }

    private static double ReadUptime()
    {
        try
        {
            var first = File.ReadAllText("/proc/uptime").Split(' ')[0];
            return double.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
    }
}
