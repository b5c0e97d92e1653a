using System.Threading.Channels;
using Npgsql;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// <see cref="IClusterNotifications"/> over PostgreSQL's LISTEN/NOTIFY. Every message goes on one
/// channel, <c>kldload</c>, as <c>topic|instance|payload</c>, sent with <c>pg_notify</c> on the
/// command path of the store, so inside a transaction it is delivered only when that commits. Each
/// instance keeps one connection that LISTENs (a background loop waiting on it); when the connection
/// is lost the loop reconnects with a growing pause (0.5 s to 30 s), logs the outage once, and after
/// it tells every subscriber that messages may have been missed. Handlers run one at a time, off the
/// listening connection.
/// </summary>
public sealed partial class PostgresClusterNotifications : BackgroundService, IClusterNotifications
{
    /// <summary>The PostgreSQL channel every instance listens on.</summary>
    public const string Channel = "kldload";

    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);

    /// <summary>How long a silent connection waits before it proves itself with a query.</summary>
    private static readonly TimeSpan Probe = TimeSpan.FromSeconds(30);

    private readonly PostgresKldloadDatabase _database;
    private readonly ILogger<PostgresClusterNotifications> _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Action<string?>>> _handlers = new(StringComparer.Ordinal);
    private readonly Channel<(string Topic, string? Payload)> _inbox = System.Threading.Channels.Channel.CreateUnbounded<(string, string?)>(new UnboundedChannelOptions { SingleReader = true });
    private TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PostgresClusterNotifications(PostgresKldloadDatabase database, ILogger<PostgresClusterNotifications> logger)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(logger);
        _database = database;
        _logger = logger;
    }

    /// <summary>This instance's id in the messages it sends (its own are not delivered back to it).</summary>
    public string InstanceId { get; } = Guid.NewGuid().ToString("N")[..16];

    /// <summary>The server process of the listening connection, 0 while there is none (for tests and diagnostics).</summary>
    public int ListenerProcessId { get; private set; }

    /// <summary>How many times the LISTEN connection has been (re)established.</summary>
    public int Connections { get; private set; }

    /// <summary>Completes once a LISTEN connection is up (again, after <see cref="Connections"/> grows).</summary>
    public Task Listening
    {
        get
        {
            lock (_gate)
            {
                return _listening.Task;
            }
        }
    }

    public void Publish(string topic, string payload)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(payload);
        using var command = _database.CreateCommand("SELECT pg_notify(@channel, @message)");
        command.Parameters.AddWithValue("channel", Channel);
        command.Parameters.AddWithValue("message", $"{topic}|{InstanceId}|{payload}");
        command.ExecuteNonQuery();
    }

    public IDisposable Subscribe(string topic, Action<string?> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(handler);
        lock (_gate)
        {
            if (!_handlers.TryGetValue(topic, out var list))
            {
                _handlers[topic] = list = [];
            }

            list.Add(handler);
        }

        return new Subscription(this, topic, handler);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), DispatchAsync(stoppingToken));

    private async Task ListenAsync(CancellationToken ct)
    {
        var pause = FirstPause;
        var outage = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var connection = await _database.DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    connection.Notification += OnNotification;
                    await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                    {
                        await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    ListenerProcessId = connection.ProcessID;
                    Connections++;
                    pause = FirstPause;
                    if (outage)
                    {
                        outage = false;
                        Log.ListenRestored(_logger, _database.Description);
                        // Whatever was sent while nobody listened is lost: subscribers reload.
                        foreach (var topic in Topics())
                        {
                            _inbox.Writer.TryWrite((topic, null));
                        }
                    }

                    TaskCompletionSource up;
                    lock (_gate)
                    {
                        up = _listening;
                    }

                    up.TrySetResult();
                    while (true)
                    {
                        if (!await connection.WaitAsync((int)Probe.TotalMilliseconds, ct).ConfigureAwait(false))
                        {
                            await using var probe = new NpgsqlCommand("SELECT 1", connection);
                            await probe.ExecuteScalarAsync(ct).ConfigureAwait(false);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
            {
                ListenerProcessId = 0;
                lock (_gate)
                {
                    if (_listening.Task.IsCompleted)
                    {
                        _listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }

                if (!outage)
                {
                    outage = true;
                    Log.ListenLost(_logger, _database.Description, e.Message);
                }

                try
                {
                    await Task.Delay(pause, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
            }
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        var parts = e.Payload.Split('|', 3);
        if (parts.Length == 3 && parts[1] != InstanceId)
        {
            _inbox.Writer.TryWrite((parts[0], parts[2]));
        }
    }

    private async Task DispatchAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var (topic, payload) in _inbox.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                Action<string?>[] handlers;
                lock (_gate)
                {
                    handlers = _handlers.TryGetValue(topic, out var list) ? [.. list] : [];
                }

                foreach (var handler in handlers)
                {
                    try
                    {
                        handler(payload);
                    }
                    catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
                    {
                        Log.HandlerFailed(_logger, topic, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private string[] Topics()
    {
        lock (_gate)
        {
            return [.. _handlers.Keys];
        }
    }

    private void Unsubscribe(string topic, Action<string?> handler)
    {
        lock (_gate)
        {
            if (_handlers.TryGetValue(topic, out var list))
            {
                list.Remove(handler);
            }
        }
    }

    private sealed class Subscription(PostgresClusterNotifications owner, string topic, Action<string?> handler) : IDisposable
    {
        public void Dispose() => owner.Unsubscribe(topic, handler);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ClusterListenLost, Level = LogLevel.Warning, Message = "lost the LISTEN connection to {Database} ({Reason}): other instances' changes reach this one again once it reconnects")]
        public static partial void ListenLost(ILogger logger, string database, string reason);

        [LoggerMessage(EventId = LogEvents.ClusterListenRestored, Level = LogLevel.Information, Message = "LISTEN connection to {Database} restored; caches reloaded")]
        public static partial void ListenRestored(ILogger logger, string database);

        [LoggerMessage(EventId = LogEvents.ClusterHandlerFailed, Level = LogLevel.Warning, Message = "could not apply another instance's {Topic} change: {Reason}")]
        public static partial void HandlerFailed(ILogger logger, string topic, string reason);
    }
}
