using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Kldload.Bmc.Redfish;

/// <summary>
/// A Redfish client for one ComputerSystem (DMTF DSP0266 / DSP8010 ComputerSystem schema): power state
/// and UUID from the system resource, power through the ComputerSystem.Reset action, one-time network
/// boot through the Boot override properties. HTTP Basic authentication; a BMC's self-signed certificate
/// is accepted only when its SHA-256 fingerprint is the pinned one.
/// </summary>
public sealed class RedfishClient : IBmcClient
{
    private readonly RedfishOptions _options;
    private readonly HttpClient _http;
    private string? _presentedFingerprint;

    public RedfishClient(RedfishOptions options)
        : this(options, null)
    {
    }

    /// <param name="options">Where and how to connect.</param>
    /// <param name="handler">A handler to use instead of the pinned-certificate one (tests of the HTTP layer).</param>
    public RedfishClient(RedfishOptions options, HttpMessageHandler? handler)
    {
        _options = options;
        var pinned = options.CertificateFingerprint is { } text
            ? RedfishOptions.NormalizeFingerprint(text) ?? throw new ArgumentException($"'{text}' is not a SHA-256 fingerprint (64 hex digits)", nameof(options))
            : null;
        handler ??= new SocketsHttpHandler
        {
            ConnectTimeout = options.AttemptTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    _presentedFingerprint = Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData()));
                    return pinned is null
                        ? errors == SslPolicyErrors.None
                        : CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(_presentedFingerprint), Encoding.ASCII.GetBytes(pinned));
                },
            },
        };
        _http = new HttpClient(handler) { BaseAddress = options.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        _http.DefaultRequestHeaders.Add("OData-Version", "4.0");
    }

    /// <summary>The SHA-256 fingerprint of the certificate the service presented last (for `bmc set` to show).</summary>
    public string? PresentedFingerprint => _presentedFingerprint;

    public async Task<BmcPowerState> GetPowerStateAsync(CancellationToken cancellationToken = default)
    {
        var (system, _) = await GetSystemAsync(cancellationToken).ConfigureAwait(false);
        return ReadPowerState(system);
    }

    /// <summary>
    /// On, off (ForceOff) or cycle: PowerCycle when the service lists it, ForceRestart otherwise, and On
    /// when the system is off (a rebuild starts a stopped node).
    /// </summary>
    public async Task SetPowerAsync(BmcPowerAction action, CancellationToken cancellationToken = default)
    {
        var (system, _) = await GetSystemAsync(cancellationToken).ConfigureAwait(false);
        var reset = system["Actions"]?["#ComputerSystem.Reset"];
        var target = reset?["target"]?.GetValue<string>() ?? $"{_options.SystemPath}/Actions/ComputerSystem.Reset";
        var allowed = reset?["ResetType@Redfish.AllowableValues"]?.AsArray().Select(v => v?.GetValue<string>()).ToHashSet();
        var resetType = action switch
        {
            BmcPowerAction.On => "On",
            BmcPowerAction.Off => "ForceOff",
            _ when ReadPowerState(system) == BmcPowerState.Off => "On",
            _ when allowed is null || allowed.Contains("PowerCycle") => "PowerCycle",
            _ => "ForceRestart",
        };
        if (allowed is not null && !allowed.Contains(resetType))
        {
            throw new BmcException(BmcErrorKind.Unsupported, $"Redfish {_options}: ResetType {resetType} is not among the allowed values ({string.Join(", ", allowed)})");
        }

        var body = new JsonObject { ["ResetType"] = resetType };
        // A reset is not idempotent: it is retried only when the connection never opened.
        await SendAsync(HttpMethod.Post, target, body, etag: null, retryAfterSend: false, $"ComputerSystem.Reset ({resetType})", cancellationToken).ConfigureAwait(false);
    }

    public async Task SetOneTimeNetworkBootAsync(bool efi, CancellationToken cancellationToken = default)
    {
        var (_, etag) = await GetSystemAsync(cancellationToken).ConfigureAwait(false);
        var boot = new JsonObject
        {
            ["BootSourceOverrideTarget"] = "Pxe",
            ["BootSourceOverrideEnabled"] = "Once",
        };
        if (efi)
        {
            boot["BootSourceOverrideMode"] = "UEFI";
        }

        await SendAsync(HttpMethod.Patch, _options.SystemPath, new JsonObject { ["Boot"] = boot }, etag, retryAfterSend: true, "PATCH Boot override", cancellationToken).ConfigureAwait(false);
    }

    public async Task<BmcSystemUuid> GetSystemUuidAsync(CancellationToken cancellationToken = default)
    {
        var (system, _) = await GetSystemAsync(cancellationToken).ConfigureAwait(false);
        var text = system["UUID"]?.GetValue<string>();
        if (text is null || !Guid.TryParse(text, out var uuid))
        {
            throw new BmcException(BmcErrorKind.ProtocolError, $"Redfish {_options}: the system has no UUID property that parses ('{text}')");
        }

        return new BmcSystemUuid(uuid, null);
    }

    /// <summary>The ComputerSystem resource and its ETag.</summary>
    public async Task<(JsonObject System, string? ETag)> GetSystemAsync(CancellationToken cancellationToken = default)
    {
        var (node, etag) = await SendAsync(HttpMethod.Get, _options.SystemPath, null, null, retryAfterSend: true, "GET system", cancellationToken).ConfigureAwait(false);
        return node as JsonObject is { } system
            ? (system, etag)
            : throw new BmcException(BmcErrorKind.ProtocolError, $"Redfish {_options}: the system resource is not a JSON object");
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }

    private static BmcPowerState ReadPowerState(JsonObject system) => system["PowerState"]?.GetValue<string>() switch
    {
        "On" or "PoweringOff" or "Paused" => BmcPowerState.On,
        "Off" or "PoweringOn" => BmcPowerState.Off,
        _ => BmcPowerState.Unknown,
    };

    private async Task<(JsonNode? Body, string? ETag)> SendAsync(HttpMethod method, string path, JsonObject? body, string? etag, bool retryAfterSend, string what, CancellationToken cancellationToken)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < _options.Attempts; attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(1 << (attempt - 1)), cancellationToken).ConfigureAwait(false);
            }

            using var request = new HttpRequestMessage(method, path);
            if (body is not null)
            {
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }

            if (etag is not null)
            {
                request.Headers.TryAddWithoutValidation("If-Match", etag);
            }

            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptCts.CancelAfter(_options.AttemptTimeout);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, attemptCts.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (e.InnerException is AuthenticationException)
            {
                throw new BmcException(
                    BmcErrorKind.AuthenticationFailed,
                    _options.CertificateFingerprint is null
                        ? $"Redfish {_options}: the certificate is not trusted (presented SHA-256 {_presentedFingerprint}); pin it with --fingerprint"
                        : $"Redfish {_options}: the certificate's SHA-256 fingerprint {_presentedFingerprint} is not the pinned one",
                    e);
            }
            catch (HttpRequestException e) when (retryAfterSend || e.HttpRequestError == HttpRequestError.ConnectionError)
            {
                last = e;
                continue;
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && retryAfterSend)
            {
                last = e;
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new BmcException(BmcErrorKind.Unreachable, $"Redfish {_options}: {what} got no answer ({e.Message}); not retried, a reset may have been delivered", e);
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                {
                    throw new BmcException(BmcErrorKind.AuthenticationFailed, $"Redfish {_options} refused the credentials of user '{_options.User}' ({(int)response.StatusCode})");
                }

                if (!response.IsSuccessStatusCode)
                {
                    if ((int)response.StatusCode >= 500 && retryAfterSend && attempt + 1 < _options.Attempts)
                    {
                        last = new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}");
                        continue;
                    }

                    throw new BmcException(BmcErrorKind.CommandRefused, $"Redfish {_options} refused {what}: {(int)response.StatusCode} {response.ReasonPhrase}{ErrorMessage(text)}");
                }

                JsonNode? node = null;
                if (!string.IsNullOrWhiteSpace(text))
                {
                    try
                    {
                        node = JsonNode.Parse(text);
                    }
                    catch (System.Text.Json.JsonException e)
                    {
                        throw new BmcException(BmcErrorKind.ProtocolError, $"Redfish {_options}: {what} answered with invalid JSON: {e.Message}", e);
                    }
                }

                return (node, response.Headers.ETag?.ToString());
            }
        }

        throw new BmcException(BmcErrorKind.Unreachable, $"Redfish {_options} did not answer {what} after {_options.Attempts} attempts: {last?.Message}", last);
    }

    /// <summary>The message of a Redfish error body (DSP0266 section 9.6), if there is one.</summary>
    private static string ErrorMessage(string text)
    {
        try
        {
            var error = JsonNode.Parse(text)?["error"];
            var message = error?["@Message.ExtendedInfo"]?[0]?["Message"]?.GetValue<string>() ?? error?["message"]?.GetValue<string>();
            return message is null ? string.Empty : $": {message}";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            return string.Empty;
        }
    }
}
