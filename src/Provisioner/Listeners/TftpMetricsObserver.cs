using System.Net;
using Kldload.Tftp.Transfer;
using Prometheus;

namespace Kldload.Provisioner.Listeners;

/// <summary>
/// Turns what the TFTP library reports into Prometheus metrics (<c>kldload_tftp_*</c>) and one log
/// line per transfer outcome and per refused request.
/// </summary>
internal sealed partial class TftpMetricsObserver(ILogger<TftpMetricsObserver> log, Inventory.BootStepRecorder? steps = null) : TftpServerObserver
{
    private static readonly Counter Started = Metrics.CreateCounter("kldload_tftp_transfers_started_total", "TFTP read transfers started.");
    private static readonly Counter Completed = Metrics.CreateCounter("kldload_tftp_transfers_completed_total", "TFTP read transfers completed (last block acknowledged).");
    private static readonly Counter Failed = Metrics.CreateCounter("kldload_tftp_transfers_failed_total", "TFTP transfers that ended without completing, by reason.", new CounterConfiguration { LabelNames = ["reason"] });
    private static readonly Counter Refused = Metrics.CreateCounter("kldload_tftp_requests_refused_total", "TFTP requests answered with an ERROR, by reason.", new CounterConfiguration { LabelNames = ["reason"] });
    private static readonly Counter BytesSent = Metrics.CreateCounter("kldload_tftp_bytes_sent_total", "DATA payload octets sent, retransmissions included.");
    private static readonly Counter PacketsSent = Metrics.CreateCounter("kldload_tftp_data_packets_sent_total", "DATA packets sent, retransmissions included.");
    private static readonly Counter Retransmissions = Metrics.CreateCounter("kldload_tftp_retransmissions_total", "DATA and OACK packets sent again after a timeout or partial ACK.");
    private static readonly Counter Dropped = Metrics.CreateCounter("kldload_tftp_packets_dropped_total", "Datagrams ignored, by reason (malformed, unexpected, wrong TID, duplicate ACK).", new CounterConfiguration { LabelNames = ["reason"] });
    private static readonly Gauge Active = Metrics.CreateGauge("kldload_tftp_active_sessions", "TFTP transfers running now.");

    public override void TransferStarted(TftpTransferInfo info)
    {
        Started.Inc();
        Active.Inc();
    }

    public override void TransferEnded(TftpTransferResult result)
    {
        Active.Dec();
        var client = result.Client.ToString();
        var seconds = result.Duration.TotalSeconds;
        var megabytesPerSecond = result.BytesPerSecond / 1e6;
        if (result.Outcome == TftpTransferOutcome.Completed)
        {
            Completed.Inc();
            Log.TransferCompleted(log, client, result.FileName, result.BytesAcknowledged, result.BlockSize, result.WindowSize, seconds, megabytesPerSecond, result.Retransmissions);
            steps?.TftpTransfer(result.Client, $"TFTP: {result.FileName} sent, {result.BytesAcknowledged} bytes in {seconds:0.00} s (blksize {result.BlockSize}, windowsize {result.WindowSize})");
        }
        else
        {
            Failed.WithLabels(result.Outcome.ToString()).Inc();
            Log.TransferFailed(log, client, result.FileName, result.Outcome, result.Detail ?? string.Empty, result.BytesAcknowledged, result.BlockSize, result.WindowSize, seconds, megabytesPerSecond, result.Retransmissions);
            steps?.TftpTransfer(result.Client, $"TFTP: {result.FileName} not completed ({result.Outcome}{(result.Detail is { } d ? ": " + d : string.Empty)}) after {result.BytesAcknowledged} bytes");
        }
    }

    public override void DataSent(int packets, long payloadBytes)
    {
        PacketsSent.Inc(packets);
        BytesSent.Inc(payloadBytes);
    }

    public override void Retransmitted(int packets) => Retransmissions.Inc(packets);

    public override void PacketDropped(TftpDropReason reason) => Dropped.WithLabels(reason.ToString()).Inc();

    public override void RequestRefused(IPEndPoint client, string fileName, TftpRefusal refusal, string detail)
    {
        Refused.WithLabels(refusal.ToString()).Inc();

        // A refused name may hold control bytes: keep them out of the log (no forged lines).
        fileName = string.Create(fileName.Length, fileName, static (span, name) =>
        {
            for (var i = 0; i < name.Length; i++)
            {
                span[i] = char.IsControl(name[i]) ? '?' : name[i];
            }
        });
        if (refusal == TftpRefusal.AccessViolation)
        {
            Log.RequestRefusedUnsafe(log, client.ToString(), fileName, detail);
        }
        else
        {
            Log.RequestRefused(log, client.ToString(), fileName, refusal, detail);
        }
    }

    public override void ListenerFault(Exception exception) => Log.ListenerFault(log, exception);

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.TftpTransferCompleted, Level = LogLevel.Information, Message = "TFTP {Client} {File}: completed, {Size} bytes, blksize {BlockSize}, windowsize {WindowSize}, {DurationSeconds:0.000} s, {MegabytesPerSecond:0.0} MB/s, {Retransmissions} retransmissions")]
        public static partial void TransferCompleted(ILogger logger, string client, string file, long size, int blockSize, int windowSize, double durationSeconds, double megabytesPerSecond, long retransmissions);

        [LoggerMessage(EventId = LogEvents.TftpTransferFailed, Level = LogLevel.Warning, Message = "TFTP {Client} {File}: {Outcome} ({Detail}) after {Size} bytes, blksize {BlockSize}, windowsize {WindowSize}, {DurationSeconds:0.000} s, {MegabytesPerSecond:0.0} MB/s, {Retransmissions} retransmissions")]
        public static partial void TransferFailed(ILogger logger, string client, string file, TftpTransferOutcome outcome, string detail, long size, int blockSize, int windowSize, double durationSeconds, double megabytesPerSecond, long retransmissions);

        [LoggerMessage(EventId = LogEvents.TftpRequestRefused, Level = LogLevel.Information, Message = "TFTP {Client} {File}: refused, {Refusal} ({Detail})")]
        public static partial void RequestRefused(ILogger logger, string client, string file, TftpRefusal refusal, string detail);

        [LoggerMessage(EventId = LogEvents.TftpRequestRefusedUnsafe, Level = LogLevel.Warning, Message = "TFTP {Client} {File}: refused, access violation ({Detail})")]
        public static partial void RequestRefusedUnsafe(ILogger logger, string client, string file, string detail);

        [LoggerMessage(EventId = LogEvents.TftpListenerFault, Level = LogLevel.Error, Message = "TFTP listener caught an unexpected exception and carries on")]
        public static partial void ListenerFault(ILogger logger, Exception exception);
    }
}
