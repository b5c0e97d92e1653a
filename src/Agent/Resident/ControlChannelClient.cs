using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kldload.Contracts;

namespace Kldload.Agent.Resident;

/// <summary>kldload says this node is no longer a mesh member (decommissioned, replaced or its key rotated).</summary>
internal sealed class NodeRevokedException(string message) : Exception(message);

/// <summary>The node's control channel to kldload, over the mesh.</summary>
internal interface IControlChannel
{
    /// <summary>One long poll; throws <see cref="NodeRevokedException"/> on 410, <see cref="HttpRequestException"/> when kldload is away.</summary>
    Task<WatchResponse> WatchAsync(WatchRequest request, CancellationToken ct);

    /// <summary>A fresh node certificate.</summary>
    Task<CertificateRenewal> RenewAsync(CancellationToken ct);
}

/// <summary>
/// <see cref="IControlChannel"/> over HTTP to <c>http://[hub]:PORT/api/v1/mesh/*</c>: the hub's mesh
/// address, reached through the tunnel, so no port is needed on the LAN and kldload knows the caller
/// by its mesh source address.
/// </summary>
internal sealed class HttpControlChannel : IControlChannel, IDisposable
{
    private readonly HttpClient _http;

    public HttpControlChannel(string hubAddress, int port, TimeSpan timeout)
    {
        _http = new HttpClient { BaseAddress = new Uri($"http://{(hubAddress.Contains(':', StringComparison.Ordinal) ? $"[{hubAddress}]" : hubAddress)}:{port}/"), Timeout = timeout };
    }

    public Uri BaseAddress => _http.BaseAddress!;

    public async Task<WatchResponse> WatchAsync(WatchRequest request, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync("api/v1/mesh/watch", request, AgentJsonContext.Default.WatchRequest, ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(AgentJsonContext.Default.WatchResponse, ct).ConfigureAwait(false)
            ?? throw new HttpRequestException("empty watch answer");
    }

    public async Task<CertificateRenewal> RenewAsync(CancellationToken ct)
    {
        using var response = await _http.PostAsync(new Uri("api/v1/mesh/certificate", UriKind.Relative), null, ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(AgentJsonContext.Default.CertificateRenewal, ct).ConfigureAwait(false)
            ?? throw new HttpRequestException("empty renewal answer");
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? detail = null;
        try
        {
            detail = JsonSerializer.Deserialize(body, AgentJsonContext.Default.ProblemResponse)?.Detail;
        }
        catch (JsonException)
        {
        }

        if (response.StatusCode == HttpStatusCode.Gone)
        {
            throw new NodeRevokedException(detail ?? "revoked");
        }

        throw new HttpRequestException($"{(int)response.StatusCode} {detail ?? response.ReasonPhrase}", null, response.StatusCode);
    }

    public void Dispose() => _http.Dispose();
}
