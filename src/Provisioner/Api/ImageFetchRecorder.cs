using Kldload.Provisioner.Inventory;

namespace Kldload.Provisioner.Api;

/// <summary>
/// The image routes' filter: once a GET has been answered with content (200, or 206 for a range),
/// puts the download in the fetching node's history through <see cref="BootStepRecorder"/>.
/// </summary>
internal sealed class ImageFetchRecorder(BootStepRecorder steps) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var http = context.HttpContext;
        if (HttpMethods.IsGet(http.Request.Method))
        {
            http.Response.OnCompleted(() =>
            {
                if (http.Response.StatusCode is StatusCodes.Status200OK or StatusCodes.Status206PartialContent)
                {
                    var range = http.Response.StatusCode == StatusCodes.Status206PartialContent ? $" (range {http.Response.Headers.ContentRange})" : string.Empty;
                    steps.ImageFetched(http.Connection.RemoteIpAddress, $"image fetch: {http.Request.Path} ({http.Response.ContentLength ?? 0} bytes){range}");
                }

                return Task.CompletedTask;
            });
        }

        return next(context);
    }
}
