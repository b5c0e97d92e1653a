using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Kldload.Provisioner.Settings;

/// <summary>One invalid setting: the key, the value found, and what is allowed.</summary>
public sealed record SettingError(string Key, string? Value, string Problem)
{
    /// <summary>The one-line form printed at start-up: <c>Dhcp:Mode = 'Ful': allowed: Off, Full, Proxy</c>.</summary>
    public override string ToString() => Value is null ? $"{Key}: {Problem}" : $"{Key} = '{Value}': {Problem}";
}

/// <summary>
/// Reads typed settings from configuration and collects every problem instead of stopping at the
/// first, so an operator sees all bad keys in one start-up attempt. Keys it was asked for are
/// remembered, so keys under kldload's sections that nothing reads are reported as unknown (a typo
/// in a key name must not be silently ignored).
/// </summary>
public sealed class SettingsReader
{
    private readonly IConfiguration _configuration;
    private readonly List<SettingError> _errors = [];
    private readonly HashSet<string> _consumed = new(StringComparer.OrdinalIgnoreCase);

    public SettingsReader(IConfiguration configuration) => _configuration = configuration;

    /// <summary>Every problem found so far.</summary>
    public IReadOnlyList<SettingError> Errors => _errors;

    /// <summary>Records a problem found by a cross-key check.</summary>
    public void AddError(string key, string? value, string problem) => _errors.Add(new SettingError(key, value, problem));

    /// <summary>The raw value of a key, or null when it is unset or empty.</summary>
    public string? Raw(string key)
    {
        _consumed.Add(key);
        var value = _configuration[key];
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    /// <summary>The child sections of a key (array items or dictionary entries), in order.</summary>
    public IReadOnlyList<string> Children(string key)
    {
        _consumed.Add(key);
        return _configuration.GetSection(key).GetChildren().Select(c => $"{key}:{c.Key}").ToList();
    }

    public string String(string key, string defaultValue) => Raw(key) ?? defaultValue;

    public string? OptionalString(string key) => Raw(key);

    public bool Bool(string key, bool defaultValue)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (bool.TryParse(raw, out var value))
        {
            return value;
        }

        AddError(key, raw, "allowed: true, false");
        return defaultValue;
    }

    public int Int(string key, int defaultValue, int min, int max)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        AddError(key, raw, $"allowed: an integer from {min} to {max}");
        return defaultValue;
    }

    public TEnum Enum<TEnum>(string key, TEnum defaultValue)
        where TEnum : struct, Enum
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        // Names only: a number would let "7" slip through as a value nobody documented.
        if (!raw.All(char.IsAsciiDigit) && System.Enum.TryParse<TEnum>(raw, ignoreCase: true, out var value) && System.Enum.IsDefined(value))
        {
            return value;
        }

        AddError(key, raw, $"allowed: {string.Join(", ", System.Enum.GetNames<TEnum>())}");
        return defaultValue;
    }

    public TimeSpan Duration(string key, TimeSpan defaultValue, TimeSpan min, TimeSpan max)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        AddError(key, raw, $"allowed: a duration (d.hh:mm:ss.fff) from {min:c} to {max:c}");
        return defaultValue;
    }

    public IPEndPoint Endpoint(string key, IPEndPoint defaultValue)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (IPEndPoint.TryParse(raw, out var value) && raw.Contains(':', StringComparison.Ordinal) && value.Port is > 0 and <= 65535)
        {
            return value;
        }

        AddError(key, raw, "allowed: ADDRESS:PORT, for example 0.0.0.0:69 or [::]:69");
        return defaultValue;
    }

    public IPAddress? OptionalIPv4(string key)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return null;
        }

        if (IPAddress.TryParse(raw, out var value) && value.AddressFamily == AddressFamily.InterNetwork && raw.Count(c => c == '.') == 3)
        {
            return value;
        }

        AddError(key, raw, "allowed: an IPv4 address, for example 10.0.0.1");
        return null;
    }

    public IPAddress? OptionalIPv6(string key)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return null;
        }

        if (IPAddress.TryParse(raw, out var value) && value.AddressFamily == AddressFamily.InterNetworkV6 && value.ScopeId == 0)
        {
            return value;
        }

        AddError(key, raw, "allowed: an IPv6 address without a zone, for example fd00:10::1");
        return null;
    }

    public IPNetwork? OptionalNetwork(string key, AddressFamily family)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return null;
        }

        if (IPNetwork.TryParse(raw, out var value) && value.BaseAddress.AddressFamily == family)
        {
            return value;
        }

        var example = family == AddressFamily.InterNetwork ? "10.0.0.0/24" : "fd12:3456:789a:1::/64";
        AddError(key, raw, $"allowed: a network in CIDR notation with no host bits set, for example {example}");
        return null;
    }

    public Uri? OptionalHttpUrl(string key)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return null;
        }

        if (Uri.TryCreate(raw, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && !string.IsNullOrEmpty(uri.Host))
        {
            return uri;
        }

        AddError(key, raw, "allowed: an absolute http:// or https:// URL, for example http://10.0.0.1:8080");
        return null;
    }

    public IReadOnlyList<string> StringList(string key)
    {
        var raw = Raw(key);
        if (raw is not null)
        {
            // A single value may list items separated by commas (handy in environment variables).
            return raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        return Children(key).Select(k => Raw(k)).OfType<string>().ToList();
    }

    /// <summary>
    /// Reports keys under <paramref name="sections"/> that were never read: almost always a typo in
    /// the key name, which would otherwise leave the default silently in force.
    /// </summary>
    public void ReportUnknownKeys(IEnumerable<string> sections)
    {
        foreach (var section in sections)
        {
            foreach (var (key, value) in _configuration.GetSection(section).AsEnumerable())
            {
                if (value is null || IsConsumed(key))
                {
                    continue;
                }

                AddError(key, value, "unknown setting (check the spelling against appsettings.json)");
            }
        }
    }

    /// <summary>
    /// Reports top-level names that are neither kldload's <paramref name="sections"/>, nor read by
    /// kldload (<c>urls</c>), nor one of <paramref name="foreign"/> (the host's and the logger's own):
    /// <c>--Dhcpp:Mode=Full</c> must stop start-up, not leave DHCP off without a word. Each error names
    /// the nearest known section.
    /// </summary>
    public void ReportUnknownSections(IReadOnlyCollection<string> sections, IReadOnlyCollection<string> foreign)
    {
        foreach (var child in _configuration.GetChildren())
        {
            var name = child.Key;
            if (sections.Contains(name, StringComparer.OrdinalIgnoreCase) || foreign.Contains(name, StringComparer.OrdinalIgnoreCase) || IsConsumed(name))
            {
                continue;
            }

            var nearest = sections.MinBy(s => EditDistance(s, name));
            foreach (var (key, value) in child.AsEnumerable().Where(kv => kv.Value is not null))
            {
                AddError(key, value, $"unknown section '{name}' (did you mean '{nearest}'? kldload's sections: {string.Join(", ", sections)})");
            }
        }
    }

    /// <summary>Levenshtein distance, case-insensitive: how many single-letter edits turn one name into the other.</summary>
    internal static int EditDistance(string a, string b)
    {
        a = a.ToUpperInvariant();
        b = b.ToUpperInvariant();
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private bool IsConsumed(string key)
    {
        if (_consumed.Contains(key))
        {
            return true;
        }

        // A comma-separated list may also be given as an array: Attestation:Pcrs:0, ...
        var colon = key.LastIndexOf(':');
        return colon > 0 && int.TryParse(key.AsSpan(colon + 1), out _) && _consumed.Contains(key[..colon]) && _configuration[key[..colon]] is null;
    }
}
