using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Kldload.Testing.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kldload.Testing.Bmc;

/// <summary>
/// A Redfish service for the tests (Debian packages no Redfish BMC emulator): Kestrel over HTTPS with a
/// fresh self-signed certificate on 127.0.0.1 and an ephemeral port, serving the ComputerSystem shapes of
/// DMTF's public mockups (service root, Systems collection, one system with the Reset action and the Boot
/// override properties) under HTTP Basic authentication. Its state is what the tests assert on.
/// </summary>
public sealed class RedfishService : IAsyncDisposable
{
    public const string User = "root";
    public const string Password = "calvin";
    public const string SystemId = "437XR1138R2";

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<string> _resets = [];

    private RedfishService(WebApplication app, X509Certificate2 certificate)
    {
        _app = app;
        Certificate = certificate;
        Fingerprint = Convert.ToHexString(SHA256.HashData(certificate.RawData));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>SHA-256 of the certificate, 64 upper-case hex digits.</summary>
    public string Fingerprint { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public Guid Uuid { get; } = Guid.Parse("38947555-7742-3448-3784-823347823834");

    private string _powerState = "Off";

    /// <summary>The system's power: a QEMU process's when the service drives one, else a stored value.</summary>
    public string PowerState
    {
        get => Machine is { } machine ? (machine.IsRunning ? "On" : "Off") : _powerState;
        set => _powerState = value;
    }

    /// <summary>The VM that Reset drives through QMP, when the test gave one.</summary>
    public QemuMachine? Machine { get; private set; }

    public string BootTarget { get; private set; } = "None";

    public string BootEnabled { get; private set; } = "Disabled";

    public string? BootMode { get; private set; }

    /// <summary>Answers every request after this delay (a BMC that answers slowly).</summary>
    public TimeSpan Delay { get; set; }

    public IReadOnlyList<string> Resets
    {
        get
        {
            lock (_lock)
            {
                return [.. _resets];
            }
        }
    }

    public int Requests { get; private set; }

    /// <summary>Starts the service; with <paramref name="machine"/> its Reset action drives that VM.</summary>
    public static async Task<RedfishService> StartAsync(QemuMachine? machine = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=bmc.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        var service = new RedfishService(app, certificate) { Machine = machine };
        service.Map(app);
        await app.StartAsync();
        service.BaseAddress = new Uri(ListenAddress.Of(app));
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Certificate.Dispose();
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            Requests++;
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, context.RequestAborted);
            }

            // /redfish is the unauthenticated version document (DSP0266 section 6.1).
            if (context.Request.Path != "/redfish" && context.Request.Path != "/redfish/v1" && context.Request.Path != "/redfish/v1/" && !Authorized(context.Request))
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"redfish\"";
                await context.Response.WriteAsync(Error("Base.1.8.NoValidSession", "There is no valid session established with the implementation."));
                return;
            }

            context.Response.Headers["OData-Version"] = "4.0";
            await next(context);
        });

        app.MapGet("/redfish", () => Json(new JsonObject { ["v1"] = "/redfish/v1/" }));
        app.MapGet("/redfish/v1", ServiceRoot);
        app.MapGet("/redfish/v1/Systems", () => Json(new JsonObject
        {
            ["@odata.type"] = "#ComputerSystemCollection.ComputerSystemCollection",
            ["@odata.id"] = "/redfish/v1/Systems",
            ["Name"] = "Computer System Collection",
            ["Members@odata.count"] = 1,
            ["Members"] = new JsonArray(new JsonObject { ["@odata.id"] = $"/redfish/v1/Systems/{SystemId}" }),
        }));
        app.MapGet("/redfish/v1/Systems/{id}", (string id, HttpContext context) =>
        {
            if (id != SystemId)
            {
                return NotFound(id);
            }

            context.Response.Headers.ETag = ETag();
            return Json(System());
        });
        app.MapMethods("/redfish/v1/Systems/{id}", ["PATCH"], async (string id, HttpRequest request) =>
        {
            if (id != SystemId)
            {
                return NotFound(id);
            }

            if (request.Headers.IfMatch.Count > 0 && request.Headers.IfMatch.ToString() != ETag())
            {
                return Results.Text(Error("Base.1.8.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource."), "application/json", statusCode: 412);
            }

            var body = await JsonNode.ParseAsync(request.Body);
            var boot = body?["Boot"];
            var target = boot?["BootSourceOverrideTarget"]?.GetValue<string>();
            if (target is not null and not ("None" or "Pxe" or "Hdd" or "Cd" or "BiosSetup"))
            {
                return Results.Text(Error("Base.1.8.PropertyValueNotInList", $"The value {target} for the property BootSourceOverrideTarget is not in the list of acceptable values."), "application/json", statusCode: 400);
            }

            lock (_lock)
            {
                BootTarget = target ?? BootTarget;
                BootEnabled = boot?["BootSourceOverrideEnabled"]?.GetValue<string>() ?? BootEnabled;
                BootMode = boot?["BootSourceOverrideMode"]?.GetValue<string>() ?? BootMode;
            }

            return Results.NoContent();
        });
        app.MapPost("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset", async (string id, HttpRequest request) =>
        {
            if (id != SystemId)
            {
                return NotFound(id);
            }

            var body = await JsonNode.ParseAsync(request.Body);
            var type = body?["ResetType"]?.GetValue<string>();
            lock (_lock)
            {
                if (type is not ("On" or "ForceOn" or "ForceOff" or "GracefulShutdown" or "PowerCycle" or "ForceRestart" or "GracefulRestart"))
                {
                    return Results.Text(Error("Base.1.8.ActionParameterNotSupported", $"The parameter ResetType={type} is not supported by the action ComputerSystem.Reset."), "application/json", statusCode: 400);
                }

                if (Machine is { } machine)
                {
                    Drive(machine, type);
                }
                else
                {
                    _powerState = type is "ForceOff" or "GracefulShutdown" ? "Off" : "On";
                }

                _resets.Add(type);
            }

            return Results.NoContent();
        });
    }

    /// <summary>A reset on the VM (under the lock): the boot override is honoured and consumed by a start, as firmware does.</summary>
    private void Drive(QemuMachine machine, string type)
    {
        switch (type)
        {
            case "On" or "ForceOn":
                machine.Start(NetworkBootOnNextStart());
                break;
            case "ForceOff":
                machine.PowerOff();
                break;
            case "GracefulShutdown":
                machine.PressPowerButton();
                break;
            case "PowerCycle":
                machine.PowerOff();
                machine.Start(NetworkBootOnNextStart());
                break;
            default:
                // A restart keeps the process, unless a boot override waits: SeaBIOS reads its boot
                // order when QEMU starts, so the override needs a new process.
                if (BootTarget == "Pxe" && BootEnabled != "Disabled")
                {
                    machine.PowerOff();
                    machine.Start(NetworkBootOnNextStart());
                }
                else if (machine.IsRunning)
                {
                    machine.Reset();
                }
                else
                {
                    machine.Start(false);
                }

                break;
        }
    }

    /// <summary>True when the next start boots from the network; a one-time override is spent by it.</summary>
    private bool NetworkBootOnNextStart()
    {
        if (BootTarget != "Pxe" || BootEnabled == "Disabled")
        {
            return false;
        }

        if (BootEnabled == "Once")
        {
            BootEnabled = "Disabled";
            BootTarget = "None";
        }

        return true;
    }

    private IResult ServiceRoot() => Json(new JsonObject
    {
        ["@odata.type"] = "#ServiceRoot.v1_5_0.ServiceRoot",
        ["@odata.id"] = "/redfish/v1/",
        ["Id"] = "RootService",
        ["Name"] = "Root Service",
        ["RedfishVersion"] = "1.6.0",
        ["UUID"] = "92384634-2938-2342-8820-489239905423",
        ["Systems"] = new JsonObject { ["@odata.id"] = "/redfish/v1/Systems" },
        ["Links"] = new JsonObject { ["Sessions"] = new JsonObject { ["@odata.id"] = "/redfish/v1/SessionService/Sessions" } },
    });

    private JsonObject System()
    {
        lock (_lock)
        {
            return new JsonObject
            {
                ["@odata.type"] = "#ComputerSystem.v1_13_0.ComputerSystem",
                ["@odata.id"] = $"/redfish/v1/Systems/{SystemId}",
                ["Id"] = SystemId,
                ["Name"] = "WebFrontEnd483",
                ["SystemType"] = "Physical",
                ["Manufacturer"] = "Contoso",
                ["Model"] = "3500RX",
                ["SerialNumber"] = "437XR1138R2",
                ["UUID"] = Uuid.ToString(),
                ["PowerState"] = PowerState,
                ["Status"] = new JsonObject { ["State"] = "Enabled", ["Health"] = "OK" },
                ["Boot"] = new JsonObject
                {
                    ["BootSourceOverrideEnabled"] = BootEnabled,
                    ["BootSourceOverrideTarget"] = BootTarget,
                    ["BootSourceOverrideTarget@Redfish.AllowableValues"] = new JsonArray("None", "Pxe", "Cd", "Hdd", "BiosSetup"),
                    ["BootSourceOverrideMode"] = BootMode ?? "UEFI",
                },
                ["Actions"] = new JsonObject
                {
                    ["#ComputerSystem.Reset"] = new JsonObject
                    {
                        ["target"] = $"/redfish/v1/Systems/{SystemId}/Actions/ComputerSystem.Reset",
                        ["ResetType@Redfish.AllowableValues"] = new JsonArray("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle"),
                    },
                },
            };
        }
    }

    private string ETag()
    {
        lock (_lock)
        {
            return $"W/\"{(PowerState + BootTarget + BootEnabled + BootMode).GetHashCode(StringComparison.Ordinal) & 0x7FFFFFFF:x}\"";
        }
    }

    private static bool Authorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(header[6..])) == $"{User}:{Password}";
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static IResult Json(JsonObject body) => Results.Text(body.ToJsonString(), "application/json");

    private static IResult NotFound(string id) =>
        Results.Text(Error("Base.1.8.ResourceMissingAtURI", $"The resource at the URI /redfish/v1/Systems/{id} was not found."), "application/json", statusCode: 404);

    private static string Error(string id, string message) => new JsonObject
    {
        ["error"] = new JsonObject
        {
            ["code"] = id,
            ["message"] = message,
            ["@Message.ExtendedInfo"] = new JsonArray(new JsonObject { ["MessageId"] = id, ["Message"] = message }),
        },
    }.ToJsonString();
}
