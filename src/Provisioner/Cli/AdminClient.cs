using System.Net.Http.Headers;
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

/// <summary>The CLI's client for the admin API (bearer token from <c>Auth:AdminTokenFile</c>).</summary>
internal sealed class AdminClient : IDisposable
{
    internal static readonly JsonSerializerOptions Json = CreateJson();
    private readonly HttpClient _http;

    public AdminClient(Uri server, string token)
    {
        _http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
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
            throw new AdminApiException(0, $"cannot reach kldload at {_http.BaseAddress}: {e.Message} (is `kldload serve` running? set --server or Kldload:ServerUrl)");
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
            throw new AdminApiException(0, $"cannot reach kldload at {_http.BaseAddress}: {e.Message} (is `kldload serve` running? set --server or Kldload:ServerUrl)");
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
