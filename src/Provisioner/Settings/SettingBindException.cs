namespace Kldload.Provisioner.Settings;

/// <summary>
/// A listener could not bind what a setting asked for (port in use, privileged port without root,
/// missing interface). Start-up stops with a message naming <see cref="Key"/> so the operator knows
/// which setting to change.
/// </summary>
public sealed class SettingBindException : Exception
{
    public SettingBindException(string key, string value, string problem, Exception? inner = null)
        : base($"{key} = '{value}': {problem}", inner)
    {
        Key = key;
        Value = value;
    }

    public SettingBindException()
    {
        Key = string.Empty;
        Value = string.Empty;
    }

    public SettingBindException(string message)
        : base(message)
    {
        Key = string.Empty;
        Value = string.Empty;
    }

    public SettingBindException(string message, Exception innerException)
        : base(message, innerException)
    {
        Key = string.Empty;
        Value = string.Empty;
    }

    public string Key { get; }

    public string Value { get; }
}
