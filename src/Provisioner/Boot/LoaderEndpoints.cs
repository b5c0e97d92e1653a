using Kldload.Tftp.Files;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// <c>GET /tftp/{name}</c>: the boot loaders of <c>Tftp:Root</c> over HTTP, for UEFI HTTP boot (option 93
/// = 16, vendor class <c>HTTPClient</c>), which DHCP points here. The same file source and safety rules
/// as the TFTP listener: no <c>..</c>, no escape through symlinks, no devices.
/// </summary>
public static class LoaderEndpoints
{
    public static WebApplication MapLoaderEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapMethods("/tftp/{**name}", [HttpMethods.Get, HttpMethods.Head], (string name, BootLoaderFiles source) =>
        {
            if (!source.Enabled)
            {
                return Results.Problem(title: "not found", detail: "TFTP is disabled (Tftp:Enabled=false): no boot loaders are served", statusCode: StatusCodes.Status404NotFound);
            }

            var lookup = source.Open(name);
            return lookup.Status switch
            {
                TftpFileStatus.Found => Results.Stream(lookup.File!.Content, "application/octet-stream"),
                TftpFileStatus.Refused => Results.Problem(title: "refused", detail: lookup.Reason, statusCode: StatusCodes.Status403Forbidden),
                _ => Results.Problem(title: "not found", detail: lookup.Reason, statusCode: StatusCodes.Status404NotFound),
            };
        }).ExcludeFromDescription();
        return app;
    }
}
