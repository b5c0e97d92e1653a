using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kldload.Provisioner.Settings;
using Kldload.Provisioner.Storage;

namespace Kldload.Provisioner.Cli;

/// <summary>A failed admin API call: the server's problem detail, ready to print as one line.</summary>
internal sealed class AdminApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// The CLI's client for the admin API (bearer token from <c>Auth:AdminTokenFile</c>). An <c>https</c>
/// server is trusted the way SSH trusts a host (<see cref="KnownServers"/>).
/// </summary>
internal sealed class AdminClient : IDisposable
{
    internal static readonly JsonSerializerOptions Json = CreateJson();
    private readonly HttpClient _http;
    private readonly KnownServers _pins;

    public AdminClient(Uri server, string token, KnownServers pins)
    {
        _pins = pins;
        _http = CreateHttp(server, token, pins, TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// An HTTP client for the admin API at <paramref name="server"/>, presenting <paramref name="token"/>;
    /// for <c>https</c> the server's certificate is checked against <paramref name="pins"/> (every
    /// admin command builds its client here, so <c>--server https://...</c> works for each).
    /// </summary>
    public static HttpClient CreateHttp(Uri server, string token, KnownServers pins, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(pins);
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) };
        if (server.Scheme == Uri.UriSchemeHttps)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => pins.Check(server, certificate);
        }

        var http = new HttpClient(handler) { BaseAddress = server, Timeout = timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>
    /// The one line to print for a request that did not reach the server: a refused pin names the
    /// known-servers file and both fingerprints; anything else says where the CLI looked.
    /// </summary>
    public static string Unreachable(Uri server, HttpRequestException e, KnownServers pins)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(pins);
        return pins.RefusalFor(server) ?? $"cannot reach kldload at {server}: {e.Message} (is `kldload serve` running? set --server or Kldload:ServerUrl)";
    }

    /// <summary>
    /// Server URL: <c>--server</c>, else the URL the server running on this data directory published
    /// (the one whose admin token the CLI reads), else <c>Kldload:ServerUrl</c>, else the local default.
    /// </summary>
    public static Uri ResolveServer(string? option, KldloadConfiguration config) =>
        option is not null ? new Uri(option)
        : (DataDirectoryLock.IsHeld(config.Kldload.DataDir) ? DataDirectoryLock.ReadPublishedUrl(config.Kldload.DataDir) : null)
            ?? config.Kldload.ServerUrl ?? new Uri("http://127.0.0.1:8080");

    public Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    /// <summary>DELETE; the body of a success is not read.</summary>
    public async Task DeleteAsync(string path, CancellationToken ct) => await SendAsync<JsonElement?>(HttpMethod.Delete, path, null, ct, readBody: false).ConfigureAwait(false);

    /// <summary>
    /// The lines of a long-lived response (server-sent events), as they arrive, until the server ends
    /// it or <paramref name="ct"/> fires. The client's timeout covers only the response headers.
    /// </summary>
    public async IAsyncEnumerable<string> StreamLinesAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path.TrimStart('/'), UriKind.Relative));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new AdminApiException(0, Unreachable(_http.BaseAddress!, e, _pins));
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new AdminApiException((int)response.StatusCode, $"{(int)response.StatusCode} {response.ReasonPhrase}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                yield return line;
            }
        }
    }

    public Task<T> PostAsync<T>(string path, object? body, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, body, ct);

    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct, bool readBody = true)
    {
        using var request = new HttpRequestMessage(method, new Uri(path.TrimStart('/'), UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new AdminApiException(0, Unreachable(_http.BaseAddress!, e, _pins));
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var detail = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                try
                {
                    using var doc = JsonDocument.Parse(detail);
                    detail = doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() ?? detail : detail;
                }
                catch (JsonException)
                {
                    // not problem+json: print the body as it is
                }

                throw new AdminApiException((int)response.StatusCode, $"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
            }

            return readBody ? (await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false))! : default!;
        }
    }

    public void Dispose() => _http.Dispose();

    private static JsonSerializerOptions CreateJson()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };
        o.Converters.Add(new JsonStringEnumConverter());
        return o;
    }
}

/// <summary>
/// Trust on first use for <c>https</c> admin servers, as SSH does with <c>known_hosts</c>: the first
/// connection to a server records the SHA-256 fingerprint of its certificate in
/// <c>Admin:KnownServersFile</c> (one line per server: <c>HOST:PORT FINGERPRINT</c>) and says so on
/// standard error; later connections must present that certificate, else they are refused before the
/// token is sent. A certificate that is the one in this CLI's own data directory (the CLI on the
/// server's machine, which reads the admin token there too) is trusted without a pin.
/// </summary>
internal sealed class KnownServers
{
    private readonly object _gate = new();
    private readonly TextWriter _notices;
    private readonly string? _localFingerprint;
    private readonly Dictionary<string, string> _refused = new(StringComparer.OrdinalIgnoreCase);

    public KnownServers(string file, TextWriter notices, string? localCertificateFile = null)
    {
        File = file;
        _notices = notices;
        _localFingerprint = ReadFingerprint(localCertificateFile);
    }

    /// <summary>The known-servers file.</summary>
    public string File { get; }

    /// <summary>The pins of the settings in force, with the admin certificate of the configured data directory trusted as it is.</summary>
    public static KnownServers For(KldloadConfiguration config, TextWriter notices)
    {
        ArgumentNullException.ThrowIfNull(config);
        var local = config.Admin.CertificateFile ?? Path.Combine(config.Admin.GeneratedDirectory, "cert.pem");
        return new KnownServers(config.Admin.KnownServersFile, notices, local);
    }

    /// <summary>The key a server is pinned under: its host and port.</summary>
    public static string Key(Uri server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return $"{server.Host}:{server.Port}";
    }

    /// <summary>The TLS check: true when the certificate is the pinned one, or is pinned now.</summary>
    public bool Check(Uri server, X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        var presented = AdminSettings.Fingerprint(certificate);
        if (presented == _localFingerprint)
        {
            return true;
        }

        var key = Key(server);
        lock (_gate)
        {
            var pins = Read();
            if (pins.TryGetValue(key, out var pinned))
            {
                if (string.Equals(pinned, presented, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                _refused[key] = $"the certificate of {key} is not the one pinned in {File}: pinned SHA-256 {pinned}, presented SHA-256 {presented}; nothing was sent. If the server's certificate was replaced on purpose, delete the line for {key} from {File} and connect again; otherwise something is between you and the server";
                return false;
            }

            try
            {
                Pin(key, presented);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _refused[key] = $"the certificate of {key} (SHA-256 {presented}) is not pinned yet and pinning it in {File} failed ({e.Message.TrimEnd('.')}); nothing was sent. Set Admin:KnownServersFile to a writable file";
                return false;
            }

            _notices.WriteLine($"kldload: pinned the certificate of {key} (SHA-256 {presented}) in {File}; from now on only that certificate is accepted there");
            return true;
        }
    }

    /// <summary>Why a connection to <paramref name="server"/> was refused, or null when no pin refused it.</summary>
    public string? RefusalFor(Uri server)
    {
        lock (_gate)
        {
            return _refused.GetValueOrDefault(Key(server));
        }
    }

    private Dictionary<string, string> Read()
    {
        var pins = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!System.IO.File.Exists(File))
        {
            return pins;
        }

        foreach (var line in System.IO.File.ReadLines(File))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && !line.StartsWith('#'))
            {
                pins.TryAdd(parts[0], parts[1]);
            }
        }

        return pins;
    }

    private void Pin(string key, string fingerprint)
    {
        var dir = Path.GetDirectoryName(File)!;
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var stream = new FileStream(File, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        stream.Write(System.Text.Encoding.ASCII.GetBytes($"{key} {fingerprint}\n"));
    }

    private static string? ReadFingerprint(string? certificateFile)
    {
        try
        {
            return certificateFile is not null && System.IO.File.Exists(certificateFile)
                ? AdminSettings.Fingerprint(X509Certificate2.CreateFromPem(System.IO.File.ReadAllText(certificateFile)))
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }
}
