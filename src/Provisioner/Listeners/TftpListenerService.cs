using System.Net.Sockets;
using Kldload.Provisioner.Settings;
using Kldload.Tftp.Files;
using Kldload.Tftp.Server;
using Kldload.Tftp.Transfer;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Binds <c>Tftp:Endpoint</c> at start-up and serves until shutdown. A bind failure stops start-up
/// with a <see cref="SettingBindException"/> naming the key, and marks the readiness check failed.
/// </summary>
internal sealed partial class TftpListenerService(
    TftpSettings settings,
    TftpServerOptions options,
    ITftpFileSource files,
    TimeProvider time,
    TftpMetricsObserver observer,
    ListenerReadiness readiness,
    ILogger<TftpListenerService> log) : IHostedService, IAsyncDisposable
{
    private TftpUdpListener? _listener;

    /// <summary>The bound endpoint once started (the actual port when the setting said 0).</summary>
    public System.Net.IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var server = new TftpServer(options, files, time, observer);
        var listener = new TftpUdpListener(settings.Endpoint, server, observer);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            var why = SocketBindErrors.Describe(e);
            readiness.MarkFailed($"cannot bind {settings.Endpoint}: {why}");
            throw new SettingBindException("Tftp:Endpoint", settings.Endpoint.ToString(), $"cannot bind: {why}", e);
        }

        _listener = listener;
        readiness.MarkBound();
        Log.Listening(log, listener.LocalEndPoint.ToString(), settings.RootMissing ? "(none)" : settings.Root, options.MaxBlockSize, options.MaxWindowSize);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is { } listener)
        {
            _listener = null;
            readiness.MarkFailed("stopped");
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.TftpListening, Level = LogLevel.Information, Message = "TFTP listening on {Endpoint}, root {Root}, blksize up to {MaxBlockSize}, windowsize up to {MaxWindowSize}")]
        public static partial void Listening(ILogger logger, string endpoint, string root, int maxBlockSize, int maxWindowSize);
    }
}
