using System.Globalization;
using Kldload.ImageStore;
using Spectre.Console;

namespace Kldload.Provisioner.Cli;

/// <summary>
/// Shows import/export progress: a Spectre.Console bar (bytes, rate, time left) when standard error
/// is a terminal, otherwise a plain line at most once a second and a summary line at the end.
/// </summary>
internal static class ImageProgress
{
    /// <summary>Runs <paramref name="work"/> with a progress sink suited to <paramref name="stderr"/>.</summary>
    public static async Task<T> RunAsync<T>(TextWriter stderr, bool quiet, Func<ITransferProgress, Task<T>> work)
    {
        if (quiet)
        {
            return await work(NoTransferProgress.Instance).ConfigureAwait(false);
        }

        if (IsInteractive(stderr))
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            return await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(ctx => work(new SpectreTransferProgress(ctx)))
                .ConfigureAwait(false);
        }

        return await work(new PlainTransferProgress(stderr, TimeProvider.System)).ConfigureAwait(false);
    }

    private static bool IsInteractive(TextWriter stderr)
        => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected
            && Environment.GetEnvironmentVariable("TERM") is { } term && term != "dumb";

    private sealed class SpectreTransferProgress(ProgressContext context) : ITransferProgress
    {
        private ProgressTask? _task;

        public void Start(string description, long totalBytes)
            => _task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, totalBytes));

        public void Advance(long bytes) => _task?.Increment(bytes);

        public void Finish()
        {
            if (_task is not null)
            {
                _task.Value = _task.MaxValue;
                _task.StopTask();
            }
        }
    }
}

/// <summary>Plain progress lines: "importing live/7: 12.0 MiB of 64.0 MiB (18%), 85.3 MiB/s, 0:00:01 left".</summary>
internal sealed class PlainTransferProgress(TextWriter output, TimeProvider time) : ITransferProgress
{
    private readonly Lock _lock = new();
    private string _description = string.Empty;
    private long _total;
    private long _done;
    private long _started;
    private long _lastLine;

    public void Start(string description, long totalBytes)
    {
        lock (_lock)
        {
            _description = description;
            _total = totalBytes;
            _done = 0;
            _started = _lastLine = time.GetTimestamp();
        }
    }

    public void Advance(long bytes)
    {
        lock (_lock)
        {
            _done += bytes;
            var now = time.GetTimestamp();
            if (time.GetElapsedTime(_lastLine, now) < TimeSpan.FromSeconds(1))
            {
                return;
            }

            _lastLine = now;
            var elapsed = time.GetElapsedTime(_started, now).TotalSeconds;
            var rate = elapsed > 0 ? _done / elapsed : 0;
            var line = _total > 0
                ? $"{_description}: {Size(_done)} of {Size(_total)} ({100.0 * _done / _total:0}%), {Size((long)rate)}/s, {Eta(rate)} left"
                : $"{_description}: {Size(_done)}, {Size((long)rate)}/s";
            output.WriteLine(line);
        }
    }

    public void Finish()
    {
        lock (_lock)
        {
            var elapsed = time.GetElapsedTime(_started);
            var rate = elapsed.TotalSeconds > 0 ? _done / elapsed.TotalSeconds : 0;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_description}: {Size(_done)} in {elapsed.TotalSeconds:0.0} s ({Size((long)rate)}/s)"));
        }
    }

    private string Eta(double rate)
    {
        if (rate <= 0)
        {
            return "?";
        }

        var left = TimeSpan.FromSeconds((_total - _done) / rate);
        return left.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture);
    }

    internal static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
