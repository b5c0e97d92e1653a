using System.Text.Json.Nodes;
using Kldload.Bmc.Redfish;

namespace Kldload.Bmc.Tests.Redfish;

/// <summary>DMTF's redfishtool against a test <see cref="RedfishService"/>, and kldload's client options for it.</summary>
internal static class Redfishtool
{
    public static RedfishOptions Options(RedfishService service) => new()
    {
        BaseAddress = service.BaseAddress,
        SystemId = RedfishService.SystemId,
        User = RedfishService.User,
        Password = RedfishService.Password,
        CertificateFingerprint = service.Fingerprint,
    };

    public static async Task<JsonNode> GetSystemAsync(RedfishService service)
    {
        var (code, output) = await RunAsync(service, "Systems", "-I", RedfishService.SystemId, "get");
        Assert.True(code == 0, output);
        return JsonNode.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..])!;
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(RedfishService service, params string[] args)
    {
        var password = args.Length > 1 && args[0] == "-p" ? args[1] : RedfishService.Password;
        var rest = args.Length > 1 && args[0] == "-p" ? args[2..] : args;
        var r = await Task.Run(() => ExternalTool.TryRun("redfishtool",
            ["-r", service.BaseAddress.Authority, "-u", RedfishService.User, "-p", password, "-S", "Always", .. rest], timeout: TimeSpan.FromSeconds(60)));
        return (r.ExitCode, r.StdOut + r.StdErr);
    }
}
