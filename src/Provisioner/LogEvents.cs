namespace Kldload.Provisioner;

/// <summary>
/// Every log event id kldload writes, in one table so that an id names one message (operators filter
/// and alert on them). Ranges by area; a new message takes the next free number of its area.
/// <c>LogEventsTests</c> fails when two messages share an id.
/// </summary>
internal static class LogEvents
{
    // The host
    public const int HostStarted = 1;
    public const int HostStopped = 2;
    public const int TftpRootMissing = 3;
    public const int SignedLoaderMissing = 4;

    // Boot scripts
    public const int BootScript = 300;
    public const int BootNoImage = 301;

    // TFTP
    public const int TftpTransferCompleted = 310;
    public const int TftpTransferFailed = 311;
    public const int TftpRequestRefused = 312;
    public const int TftpRequestRefusedUnsafe = 313;
    public const int TftpListenerFault = 314;
    public const int TftpListening = 320;

    // DHCPv4 and what it records
    public const int DhcpListening = 400;
    public const int DhcpAnswered = 401;
    public const int DhcpDropped = 402;
    public const int DhcpMalformed = 403;
    public const int DhcpRecorded = 404;
    public const int DhcpSendFailed = 405;
    public const int DhcpBootRecordFailed = 406;
    public const int BootStepRecordFailed = 407;
    public const int DhcpPoolAlmostFull = 409;

    // Router advertisements
    public const int RaListening = 410;
    public const int RaSent = 411;
    public const int RaOtherRouterSeen = 412;
    public const int RaResumed = 413;
    public const int RaSendFailed = 414;
    public const int RaUnavailable = 415;
    public const int RaDropped = 416;
    public const int RaProbeFailed = 417;
    public const int RaLoopFailed = 418;

    // Inventory housekeeping
    public const int DiscoveredExpired = 420;
    public const int DiscoveredExpiryFailed = 421;

    // DHCPv4 load balancing (RFC 3074, a peer on the same segment)
    public const int DhcpPeerSilent = 440;
    public const int DhcpPeerBack = 441;
    public const int DhcpHeartbeatFailed = 442;
    public const int DhcpLoadBalancing = 443;

    // DHCPv6
    public const int Dhcp6Listening = 430;
    public const int Dhcp6Answered = 431;
    public const int Dhcp6Dropped = 432;
    public const int Dhcp6Malformed = 433;
    public const int Dhcp6SendFailed = 434;
    public const int Dhcp6FlushFailed = 435;

    // Images
    public const int ImageBlobCorrupt = 601;
    public const int ImageBlobFetched = 602;
    public const int ImageBlobFetchRefused = 603;
    public const int ImageBlobPublishFailed = 604;
    public const int ImageBlobNoHolder = 605;

    // The mesh hub
    public const int MeshHubReady = 700;
    public const int MeshHubUp = 701;
    public const int MeshHubStaleReplaced = 702;
    public const int MeshHubDown = 703;
    public const int MeshPeerSet = 704;
    public const int MeshPeerRemoved = 705;
    public const int MeshCaImported = 706;
    public const int MeshHubSynchronized = 707;
    public const int MeshHubForwarding = 708;
    public const int MeshHubAnnounced = 709;
    public const int MeshResyncFailed = 710;

    // The mesh control channel
    public const int ControlBundleSent = 720;
    public const int ControlRefused = 721;
    public const int ControlRevoked = 722;
    public const int ControlCertificateRenewed = 723;

    // Fleet rollouts (out-of-band power)
    public const int RolloutStarted = 800;
    public const int RolloutNodeStarted = 801;
    public const int RolloutNodeReady = 802;
    public const int RolloutNodeFailed = 803;
    public const int RolloutStopped = 804;
    public const int RolloutStepFailed = 805;
    public const int RolloutResumed = 806;

    // Backups
    public const int BackupCompleted = 900;
    public const int BackupFailed = 901;
    public const int BackupWillRetry = 902;

    // Operator tokens (admin API)
    public const int TokenCreated = 950;
    public const int TokenRevoked = 951;

    // Several instances on one PostgreSQL database (LISTEN/NOTIFY)
    public const int ClusterListenLost = 1000;
    public const int ClusterListenRestored = 1001;
    public const int ClusterHandlerFailed = 1002;
    public const int InstanceForgotten = 1003;

    // The admin surface on its own listeners (Admin:Urls)
    public const int AdminSurface = 1100;

    // The admin surface on the hub's mesh address (Admin:Urls https://mesh-hub:PORT)
    public const int AdminMeshHubOff = 1110;
}
