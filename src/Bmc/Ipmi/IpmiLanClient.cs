using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Kldload.Bmc.Ipmi.Protocol;

namespace Kldload.Bmc.Ipmi;

/// <summary>
/// An IPMI 2.0 LAN (RMCP+) client for one BMC: it opens a session on first use (offering the cipher
/// suites in order, 17 then 3), signs and encrypts every command, numbers requests, retries each with a
/// doubling wait, and closes the session when disposed. All wire formats live in
/// <see cref="Kldload.Bmc.Ipmi.Protocol"/>; this class owns only the exchange and the session state.
/// </summary>
public sealed class IpmiLanClient : IBmcClient
{
    private const int ReceiveBufferSize = RmcpPlusFrame.MaximumDatagram;

    private static readonly HashSet<RmcpPlusStatus> SuiteRefusals =
    [
        RmcpPlusStatus.InvalidAuthenticationAlgorithm,
        RmcpPlusStatus.InvalidIntegrityAlgorithm,
        RmcpPlusStatus.InvalidConfidentialityAlgorithm,
        RmcpPlusStatus.NoMatchingAuthenticationPayload,
        RmcpPlusStatus.NoMatchingIntegrityPayload,
        RmcpPlusStatus.NoCipherSuiteMatch,
        RmcpPlusStatus.IllegalParameter,
    ];

    private readonly IIpmiTransport _transport;
    private readonly IpmiLanOptions _options;
    private readonly byte[] _userName;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IpmiReplayWindow _inbound = new();
    private RmcpPlusSessionKeys? _keys;
    private uint _consoleSessionId;
    private uint _bmcSessionId;
    private uint _outboundSequence;
    private byte _requestSequence;
    private byte _messageTag;

    public IpmiLanClient(IIpmiTransport transport, IpmiLanOptions options)
    {
        _transport = transport;
        _options = options;
        _userName = Encoding.ASCII.GetBytes(options.User);
        if (_userName.Length > Rakp1.MaximumUserNameLength)
        {
            throw new ArgumentException("an IPMI user name is at most 16 bytes", nameof(options));
        }

        if (Encoding.UTF8.GetByteCount(options.Password) > RakpKeyExchange.UserKeyLength)
        {
            throw new ArgumentException("an IPMI 2.0 password is at most 20 bytes", nameof(options));
        }
    }

    /// <summary>Connects a UDP transport to the options' host and port.</summary>
    public static async Task<IpmiLanClient> ConnectAsync(IpmiLanOptions options, CancellationToken cancellationToken = default)
    {
        var transport = await UdpIpmiTransport.ConnectAsync(options.Host, options.Port, cancellationToken).ConfigureAwait(false);
        return new IpmiLanClient(transport, options);
    }

    /// <summary>The cipher suite of the open session, or null before the first command.</summary>
    public CipherSuite? Suite => _keys?.Suite;

    public async Task<BmcPowerState> GetPowerStateAsync(CancellationToken cancellationToken = default)
    {
        var data = await CommandAsync(IpmiNetFn.Chassis, IpmiCommand.GetChassisStatus, [], "Get Chassis Status", cancellationToken).ConfigureAwait(false);
        if (!ChassisStatus.TryRead(data, out var status, out var error))
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options}: {error}");
        }

        return status.PowerOn ? BmcPowerState.On : BmcPowerState.Off;
    }

    /// <summary>
    /// On, off (hard), or cycle. A cycle of a chassis that is off powers it on: the specification leaves
    /// power cycle undefined when power is off and many BMCs refuse it, while a rebuild means "start it".
    /// </summary>
    public async Task SetPowerAsync(BmcPowerAction action, CancellationToken cancellationToken = default)
    {
        var control = action switch
        {
            BmcPowerAction.On => ChassisControl.PowerUp,
            BmcPowerAction.Off => ChassisControl.PowerDown,
            _ => await GetPowerStateAsync(cancellationToken).ConfigureAwait(false) == BmcPowerState.Off
                ? ChassisControl.PowerUp
                : ChassisControl.PowerCycle,
        };
        await CommandAsync(IpmiNetFn.Chassis, IpmiCommand.ChassisControl, [(byte)control], $"Chassis Control ({control})", cancellationToken).ConfigureAwait(false);
    }

    public async Task SetOneTimeNetworkBootAsync(bool efi, CancellationToken cancellationToken = default)
    {
        var data = new byte[1 + BootFlags.Size];
        data[0] = BootFlags.ParameterSelector;
        new BootFlags(Valid: true, Persistent: false, Efi: efi, BootDevice.Pxe).Write(data.AsSpan(1));
        await CommandAsync(IpmiNetFn.Chassis, IpmiCommand.SetSystemBootOptions, data, "Set System Boot Options (boot flags)", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the boot flags parameter back (Get System Boot Options, parameter 5).</summary>
    public async Task<BootFlags> GetBootFlagsAsync(CancellationToken cancellationToken = default)
    {
        var data = await CommandAsync(IpmiNetFn.Chassis, IpmiCommand.GetSystemBootOptions, [BootFlags.ParameterSelector, 0, 0], "Get System Boot Options", cancellationToken).ConfigureAwait(false);
        if (!BootFlags.TryReadResponse(data, out var flags, out var error))
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options}: {error}");
        }

        return flags;
    }

    public async Task<BmcSystemUuid> GetSystemUuidAsync(CancellationToken cancellationToken = default)
    {
        var data = await CommandAsync(IpmiNetFn.App, IpmiCommand.GetSystemGuid, [], "Get System GUID", cancellationToken).ConfigureAwait(false);
        if (data.Length < 16)
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options}: Get System GUID answered {data.Length} bytes, not 16");
        }

        return BmcSystemUuid.FromIpmi(data.AsSpan(0, 16));
    }

    /// <summary>Sends one command inside the session (opening it first if needed) and returns the data after a zero completion code.</summary>
    public async Task<byte[]> CommandAsync(IpmiNetFn netFn, byte command, byte[] data, string what, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_keys is null)
            {
                await OpenSessionAsync(cancellationToken).ConfigureAwait(false);
            }

            return await SessionCommandAsync(netFn, command, data, what, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_keys is not null)
        {
            // Best effort, one short attempt: a BMC has few session slots, but a dead one must not delay us.
            try
            {
                using var cts = new CancellationTokenSource(_options.AttemptTimeout);
                var sid = new byte[4];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(sid, _bmcSessionId);
                await SessionCommandAsync(IpmiNetFn.App, IpmiCommand.CloseSession, sid, "Close Session", cts.Token, attempts: 1).ConfigureAwait(false);
            }
            catch (Exception e) when (e is BmcException or OperationCanceledException)
            {
                // The session times out on the BMC by itself.
            }

            _keys = null;
        }

        await _transport.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }

    private async Task OpenSessionAsync(CancellationToken cancellationToken)
    {
        await CheckChannelAsync(cancellationToken).ConfigureAwait(false);

        var refused = new List<string>();
        foreach (var suite in _options.CipherSuites)
        {
            _consoleSessionId = RandomSessionId();
            var tag = ++_messageTag;
            var request = new OpenSessionRequest(tag, _options.Privilege, _consoleSessionId, suite);
            var payload = new byte[OpenSessionRequest.Size];
            request.TryWrite(payload, out _);
            var response = await ExchangeAsync(
                _ => Frame(IpmiPayloadType.OpenSessionRequest, 0, 0, payload, null),
                (ReadOnlySpan<byte> datagram, out OpenSessionResponse r) =>
                    TryReadSetup(datagram, IpmiPayloadType.OpenSessionResponse, out var p)
                    & OpenSessionResponse.TryRead(p, out r, out _) && r.Tag == tag && (r.Status != RmcpPlusStatus.NoErrors || r.ConsoleSessionId == _consoleSessionId),
                "Open Session Request",
                _options.Attempts,
                cancellationToken).ConfigureAwait(false);

            if (SuiteRefusals.Contains(response.Status))
            {
                refused.Add($"{suite.Id} ({response.Status})");
                continue;
            }

            if (response.Status != RmcpPlusStatus.NoErrors)
            {
                throw new BmcException(BmcErrorKind.CommandRefused, $"BMC {_options} refused to open a session: {response.Status}");
            }

            if (response.Authentication != suite.Authentication || response.Integrity != suite.Integrity || response.Confidentiality != suite.Confidentiality)
            {
                throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options} answered cipher suite {suite.Id} with other algorithms ({response.Authentication}, {response.Integrity}, {response.Confidentiality})");
            }

            _bmcSessionId = response.BmcSessionId;
            await AuthenticateAsync(suite, cancellationToken).ConfigureAwait(false);
            return;
        }

        throw new BmcException(BmcErrorKind.Unsupported, $"BMC {_options} refused every cipher suite kldload offers: {string.Join(", ", refused)}");
    }

    private async Task CheckChannelAsync(CancellationToken cancellationToken)
    {
        var seq = NextRequestSequence();
        // Channel 0x0E is "this channel"; bit 7 asks for the IPMI 2.0 extended data (IPMI 2.0 table 22-15).
        var request = new IpmiRequest(IpmiNetFn.App, IpmiCommand.GetChannelAuthenticationCapabilities, seq, new byte[] { 0x8E, (byte)_options.Privilege });
        var datagram = new byte[64];
        Ipmi15Frame.TryWrite(request, datagram, out var length);
        var response = await ExchangeAsync(
            _ => datagram.AsMemory(0, length),
            (ReadOnlySpan<byte> d, out IpmiResponse r) =>
                Ipmi15Frame.IsIpmi15(d) & Ipmi15Frame.TryRead(d, out r, out _) && r.Sequence == seq && r.Command == IpmiCommand.GetChannelAuthenticationCapabilities,
            "Get Channel Authentication Capabilities",
            _options.Attempts,
            cancellationToken).ConfigureAwait(false);
        if (response.CompletionCode != 0)
        {
            throw new BmcException(BmcErrorKind.CommandRefused, $"BMC {_options} refused Get Channel Authentication Capabilities: {IpmiCompletionCodes.Describe(response.CompletionCode)}");
        }

        if (!ChannelAuthenticationCapabilities.TryRead(response.Data.Span, out var caps, out var error))
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options}: {error}");
        }

        if (!caps.SupportsIpmi20)
        {
            throw new BmcException(BmcErrorKind.Unsupported, $"BMC {_options} does not offer IPMI 2.0 (RMCP+) on its LAN channel");
        }
    }

    private async Task AuthenticateAsync(CipherSuite suite, CancellationToken cancellationToken)
    {
        var exchange = new RakpKeyExchange(suite, Encoding.UTF8.GetBytes(_options.Password));
        var consoleRandom = RandomNumberGenerator.GetBytes(16);
        var role = RakpKeyExchange.RoleByte(_options.Privilege);
        var tag = ++_messageTag;
        var rakp1 = new Rakp1(tag, _bmcSessionId, consoleRandom, role, _userName);
        var payload = new byte[rakp1.Size];
        rakp1.TryWrite(payload, out _);
        var rakp2 = await ExchangeAsync(
            _ => Frame(IpmiPayloadType.Rakp1, 0, 0, payload, null),
            (ReadOnlySpan<byte> d, out Rakp2 r) =>
                TryReadSetup(d, IpmiPayloadType.Rakp2, out var p) & Rakp2.TryRead(p, out r, out _) && r.Tag == tag && (r.Status != RmcpPlusStatus.NoErrors || r.ConsoleSessionId == _consoleSessionId),
            "RAKP 1",
            _options.Attempts,
            cancellationToken).ConfigureAwait(false);

        if (rakp2.Status != RmcpPlusStatus.NoErrors)
        {
            var reason = rakp2.Status == RmcpPlusStatus.UnauthorizedName
                ? $"unknown user '{_options.User}'"
                : rakp2.Status.ToString();
            throw new BmcException(BmcErrorKind.AuthenticationFailed, $"BMC {_options} refused the login: {reason}");
        }

        var expected = exchange.Rakp2Code(_consoleSessionId, _bmcSessionId, consoleRandom, rakp2.BmcRandom.Span, rakp2.BmcGuid.Span, role, _userName);
        if (!RakpKeyExchange.CodesMatch(rakp2.AuthCode.Span, expected))
        {
            // Tell the BMC, so it frees the session slot now rather than at its timeout.
            await SendRakp3Async(new Rakp3(++_messageTag, RmcpPlusStatus.InvalidIntegrityCheckValue, _bmcSessionId, default), cancellationToken).ConfigureAwait(false);
            throw new BmcException(BmcErrorKind.AuthenticationFailed, $"BMC {_options} refused the login: wrong password for user '{_options.User}' (the RAKP 2 code does not verify)");
        }

        var sik = exchange.SessionIntegrityKey(consoleRandom, rakp2.BmcRandom.Span, role, _userName);
        tag = ++_messageTag;
        var rakp3 = new Rakp3(tag, RmcpPlusStatus.NoErrors, _bmcSessionId, exchange.Rakp3Code(rakp2.BmcRandom.Span, _consoleSessionId, role, _userName));
        var rakp3Payload = new byte[rakp3.Size];
        rakp3.TryWrite(rakp3Payload, out _);
        var rakp4 = await ExchangeAsync(
            _ => Frame(IpmiPayloadType.Rakp3, 0, 0, rakp3Payload, null),
            (ReadOnlySpan<byte> d, out Rakp4 r) =>
                TryReadSetup(d, IpmiPayloadType.Rakp4, out var p) & Rakp4.TryRead(p, out r, out _) && r.Tag == tag && (r.Status != RmcpPlusStatus.NoErrors || r.ConsoleSessionId == _consoleSessionId),
            "RAKP 3",
            _options.Attempts,
            cancellationToken).ConfigureAwait(false);

        if (rakp4.Status != RmcpPlusStatus.NoErrors)
        {
            throw new BmcException(BmcErrorKind.AuthenticationFailed, $"BMC {_options} refused the login at RAKP 4: {rakp4.Status}");
        }

        var icv = exchange.Rakp4Icv(sik, consoleRandom, _bmcSessionId, rakp2.BmcGuid.Span);
        if (!RakpKeyExchange.CodesMatch(rakp4.IntegrityCheckValue.Span, icv))
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"BMC {_options}: the RAKP 4 integrity check value does not verify");
        }

        _keys = new RmcpPlusSessionKeys(suite, exchange.K1(sik), exchange.K2(sik));
        _outboundSequence = 0;
        _inbound.Reset();

        // A session starts at User privilege (IPMI 2.0 section 22.18); power control needs more.
        await SessionCommandAsync(IpmiNetFn.App, IpmiCommand.SetSessionPrivilegeLevel, [(byte)_options.Privilege], "Set Session Privilege Level", cancellationToken).ConfigureAwait(false);
    }

    private async Task SendRakp3Async(Rakp3 message, CancellationToken cancellationToken)
    {
        var payload = new byte[message.Size];
        message.TryWrite(payload, out _);
        await _transport.SendAsync(Frame(IpmiPayloadType.Rakp3, 0, 0, payload, null), cancellationToken).ConfigureAwait(false);
    }

    private async Task<byte[]> SessionCommandAsync(IpmiNetFn netFn, byte command, byte[] data, string what, CancellationToken cancellationToken, int? attempts = null)
    {
        var keys = _keys ?? throw new InvalidOperationException("no session");
        var seq = NextRequestSequence();
        var request = new IpmiRequest(netFn, command, seq, data);
        var message = new byte[request.Size];
        request.TryWrite(message, out _);
        var response = await ExchangeAsync(
            _ => Frame(IpmiPayloadType.IpmiMessage, _bmcSessionId, ++_outboundSequence == 0 ? ++_outboundSequence : _outboundSequence, message, keys),
            (ReadOnlySpan<byte> d, out IpmiResponse r) =>
            {
                r = default;
                return RmcpPlusFrame.TryRead(d, keys, out var packet, out _)
                    && packet.PayloadType == IpmiPayloadType.IpmiMessage
                    && packet.SessionId == _consoleSessionId
                    && IpmiResponse.TryRead(packet.Payload.Span, out r, out _)
                    && r.Sequence == seq && r.Command == command && r.NetFn == (byte)netFn + 1
                    && (!packet.Authenticated || _inbound.TryAccept(packet.Sequence));
            },
            what,
            attempts ?? _options.Attempts,
            cancellationToken).ConfigureAwait(false);

        if (response.CompletionCode != 0)
        {
            throw new BmcException(BmcErrorKind.CommandRefused, $"BMC {_options} refused {what}: {IpmiCompletionCodes.Describe(response.CompletionCode)}");
        }

        return response.Data.ToArray();
    }

    private delegate bool Acceptor<T>(ReadOnlySpan<byte> datagram, out T value);

    /// <summary>
    /// Sends a request and waits for the datagram the acceptor recognises, ignoring others (late answers
    /// to earlier attempts, forgeries that fail their checks). Attempt n waits AttemptTimeout * 2^n.
    /// </summary>
    private async Task<T> ExchangeAsync<T>(Func<int, ReadOnlyMemory<byte>> build, Acceptor<T> accept, string what, int attempts, CancellationToken cancellationToken)
    {
        var buffer = new byte[ReceiveBufferSize];
        var refused = false;
        var waited = TimeSpan.Zero;
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            var wait = _options.AttemptTimeout * (1 << attempt);
            waited += wait;
            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptCts.CancelAfter(wait);
            try
            {
                await _transport.SendAsync(build(attempt), attemptCts.Token).ConfigureAwait(false);
                while (true)
                {
                    int n;
                    try
                    {
                        n = await _transport.ReceiveAsync(buffer, attemptCts.Token).ConfigureAwait(false);
                    }
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
                    {
                        // ICMP port unreachable: nothing listens there. Wait out this attempt, then retry.
                        refused = true;
                        await Task.Delay(Timeout.Infinite, attemptCts.Token).ConfigureAwait(false);
                        continue;
                    }

                    if (accept(buffer.AsSpan(0, n), out var value))
                    {
                        return value;
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // This attempt timed out; the next one waits longer.
            }
        }

        var why = refused ? " (the port refused the datagrams: is anything listening there?)" : string.Empty;
        throw new BmcException(BmcErrorKind.Unreachable, $"BMC {_options} did not answer {what} after {attempts} attempts over {waited.TotalSeconds:0.#} s{why}");
    }

    private static bool TryReadSetup(ReadOnlySpan<byte> datagram, IpmiPayloadType expected, out ReadOnlySpan<byte> payload)
    {
        payload = default;
        if (!RmcpPlusFrame.TryRead(datagram, null, out var packet, out _) || packet.PayloadType != expected)
        {
            return false;
        }

        payload = packet.Payload.Span;
        return true;
    }

    private static ReadOnlyMemory<byte> Frame(IpmiPayloadType type, uint sessionId, uint sequence, ReadOnlySpan<byte> payload, RmcpPlusSessionKeys? keys)
    {
        var datagram = new byte[RmcpPlusFrame.MaximumDatagram];
        Span<byte> iv = stackalloc byte[RmcpPlusFrame.IvSize];
        RandomNumberGenerator.Fill(iv);
        if (!RmcpPlusFrame.TryWrite(type, sessionId, sequence, payload, keys, iv, datagram, out var written))
        {
            throw new InvalidOperationException("request does not fit in a datagram");
        }

        return datagram.AsMemory(0, written);
    }

    private byte NextRequestSequence()
    {
        _requestSequence = (byte)((_requestSequence + 1) & 0x3F);
        return _requestSequence;
    }

    private static uint RandomSessionId()
    {
        Span<byte> bytes = stackalloc byte[4];
        uint id;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            id = BitConverter.ToUInt32(bytes);
        }
        while (id == 0);
        return id;
    }
}

/// <summary>Completion codes an operator may see (IPMI 2.0 table 5-2).</summary>
public static class IpmiCompletionCodes
{
    public static string Describe(byte code) => code switch
    {
        0xC0 => "C0h node busy",
        0xC1 => "C1h invalid command",
        0xC2 => "C2h command invalid for the LUN",
        0xC3 => "C3h timeout while processing",
        0xC4 => "C4h out of space",
        0xC5 => "C5h reservation cancelled",
        0xC6 => "C6h request data truncated",
        0xC7 => "C7h request data length invalid",
        0xC8 => "C8h request data field length limit exceeded",
        0xC9 => "C9h parameter out of range",
        0xCA => "CAh cannot return the number of requested bytes",
        0xCB => "CBh requested sensor, data or record not present",
        0xCC => "CCh invalid data field in request",
        0xCD => "CDh command illegal for the sensor or record type",
        0xCE => "CEh command response could not be provided",
        0xCF => "CFh duplicated request",
        0xD0 => "D0h SDR repository in update mode",
        0xD1 => "D1h device in firmware update mode",
        0xD2 => "D2h BMC initialization in progress",
        0xD3 => "D3h destination unavailable",
        0xD4 => "D4h insufficient privilege level",
        0xD5 => "D5h command not supported in present state",
        0xD6 => "D6h command sub-function disabled or unavailable",
        0xFF => "FFh unspecified error",
        _ => $"completion code {code:X2}h",
    };
}
