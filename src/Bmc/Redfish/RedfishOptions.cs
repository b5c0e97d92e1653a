namespace Kldload.Bmc.Redfish;

/// <summary>How kldload reaches one system behind a Redfish service.</summary>
public sealed record RedfishOptions
{
    /// <summary>The service's base address, such as https://10.0.0.5 (the /redfish/v1 path is added).</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>The ComputerSystem member id, as in /redfish/v1/Systems/{id}.</summary>
    public required string SystemId { get; init; }

    public required string User { get; init; }

    public required string Password { get; init; }

    /// <summary>
    /// The SHA-256 fingerprint of the service's certificate (hex, colons allowed). When set, that
    /// certificate is accepted whoever issued it, and no other; when absent, the system trust store decides.
    /// </summary>
    public string? CertificateFingerprint { get; init; }

    /// <summary>How long one HTTP attempt may take.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts per request; the wait between them doubles from one second.</summary>
    public int Attempts { get; init; } = 3;

    public string SystemPath => $"/redfish/v1/Systems/{Uri.EscapeDataString(SystemId)}";

    public override string ToString() => $"{BaseAddress.GetLeftPart(UriPartial.Authority)}{SystemPath}";

    /// <summary>A fingerprint as 64 upper-case hex digits, or null when the text is not a SHA-256 fingerprint.</summary>
    public static string? NormalizeFingerprint(string text)
    {
        var hex = text.Replace(":", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal);
        if (hex.StartsWith("sha256/", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[7..];
        }

        return hex.Length == 64 && hex.All(Uri.IsHexDigit) ? hex.ToUpperInvariant() : null;
    }
}
