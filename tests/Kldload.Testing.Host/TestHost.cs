using System.Net.Http.Headers;
using Kldload.Provisioner.Boot;
using Kldload.Provisioner.Hosting;
using Kldload.Provisioner.Settings;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Kldload.Testing.Host;

/// <summary>An image source with fixed images: the image store's stand-in in unit and API tests.</summary>
public sealed class FixedImages : IBootImageSource
{
    public Dictionary<string, BootImage> Channels { get; } = [];

    public List<BootImage> Images { get; } = [];

    public BootImage? ResolveChannel(string channel) => Channels.GetValueOrDefault(channel);

    public BootImage? Resolve(string name, string version) => Images.FirstOrDefault(i => i.Name == name && i.Version == version);

    public static BootImage Image(string name, string version) =>
        new(name, version, new string('a', 63) + version[^1], new string('b', 63) + version[^1], null, "console=ttyS0", null);
}

/// <summary>The real kldload web host, in process, on 127.0.0.1 with an ephemeral port and a temp data dir.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private TestHost(WebApplication app, string dataDir, HttpClient http, HttpClient admin)
    {
        App = app;
        DataDir = dataDir;
        Http = http;
        Admin = admin;
    }

    public WebApplication App { get; }

    public string DataDir { get; }

    public HttpClient Http { get; }

    public HttpClient Admin { get; }

    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    public static async Task<TestHost> StartAsync(string dataDir, IBootImageSource? images = null, params string[] overrides)
    {
        var root = KldloadConfiguration.BuildRoot(
            ["--urls=http://127.0.0.1:0", $"--Kldload:DataDir={dataDir}", "--Tftp:Enabled=false", .. overrides],
            Path.Combine(AppContext.BaseDirectory, "appsettings.json"));
        var config = KldloadConfiguration.Load(root, out var errors);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("settings refused: " + string.Join("; ", errors));
        }

        var app = KldloadHost.Build(config, b =>
        {
            if (images is not null)
            {
                b.Services.AddSingleton(images);
            }
        });
        await app.StartAsync();
        var url = new Uri(app.Services.GetRequiredService<ServerUrl>().ListenUrls[0]);
        var token = File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim();
        var admin = new HttpClient { BaseAddress = url };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return new TestHost(app, dataDir, new HttpClient { BaseAddress = url }, admin);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Admin.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
