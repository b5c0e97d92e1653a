using Kldload.Age;

namespace Kldload.Provisioner.Settings;

/// <summary>The <c>Backup</c> section: scheduled, encrypted backups of the provisioner itself.</summary>
public sealed record BackupSettings
{
    /// <summary><c>Backup:Schedule</c>: <c>Off</c> (default) or the interval between backups (d.hh:mm:ss, at least one minute).</summary>
    public TimeSpan? Schedule { get; init; }

    /// <summary><c>Backup:Directory</c>: where scheduled backups are written (required with a schedule; best on another disk).</summary>
    public string? Directory { get; init; }

    /// <summary><c>Backup:Keep</c>: how many scheduled backups are kept (oldest deleted first). Default 7.</summary>
    public int Keep { get; init; } = 7;

    /// <summary>
    /// <c>Backup:RecipientsFile</c>: age recipients (<c>age1...</c>, one per line, as <c>age-keygen -y</c>
    /// prints them). The preferred key: the server can write backups it cannot read.
    /// </summary>
    public string? RecipientsFile { get; init; }

    /// <summary><c>Backup:PassphraseFile</c>: a file whose first line is the passphrase (instead of recipients).</summary>
    public string? PassphraseFile { get; init; }

    /// <summary><c>Backup:IncludeImages</c>: put image blobs in scheduled backups (default true).</summary>
    public bool IncludeImages { get; init; } = true;

    internal IReadOnlyList<AgeRecipient> Recipients { get; init; } = [];

    internal static BackupSettings Read(SettingsReader r)
    {
        var rawSchedule = r.OptionalString("Backup:Schedule");
        TimeSpan? schedule = null;
        if (rawSchedule is not null && !rawSchedule.Equals("Off", StringComparison.OrdinalIgnoreCase))
        {
            schedule = r.Duration("Backup:Schedule", TimeSpan.FromDays(1), TimeSpan.FromMinutes(1), TimeSpan.FromDays(366));
        }

        var directory = r.OptionalString("Backup:Directory") is { Length: > 0 } d ? Path.GetFullPath(d) : null;
        var keep = r.Int("Backup:Keep", 7, 1, 10_000);
        var recipientsFile = r.OptionalString("Backup:RecipientsFile") is { Length: > 0 } rf ? Path.GetFullPath(rf) : null;
        var passphraseFile = r.OptionalString("Backup:PassphraseFile") is { Length: > 0 } pf ? Path.GetFullPath(pf) : null;
        var includeImages = r.Bool("Backup:IncludeImages", true);
        var recipients = recipientsFile is null ? [] : ReadRecipients(r, recipientsFile);

        if (passphraseFile is not null && ReadPassphrase(passphraseFile) is null)
        {
            r.AddError("Backup:PassphraseFile", passphraseFile, "allowed: a readable file whose first line is the passphrase");
        }

        if (schedule is not null)
        {
            if (directory is null)
            {
                r.AddError("Backup:Directory", null, "required when Backup:Schedule is set: a directory for the backup files");
            }

            if ((recipientsFile is null) == (passphraseFile is null))
            {
                r.AddError("Backup:RecipientsFile", recipientsFile, "with Backup:Schedule set exactly one of Backup:RecipientsFile (age1... recipients) or Backup:PassphraseFile is required");
            }
        }

        return new BackupSettings
        {
            Schedule = schedule,
            Directory = directory,
            Keep = keep,
            RecipientsFile = recipientsFile,
            PassphraseFile = passphraseFile,
            IncludeImages = includeImages,
            Recipients = recipients,
        };
    }

    /// <summary>The first line of a passphrase file, or null when it is missing or empty.</summary>
    public static string? ReadPassphrase(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        using var reader = new StreamReader(path);
        var line = reader.ReadLine();
        return string.IsNullOrEmpty(line) ? null : line;
    }

    private static IReadOnlyList<AgeRecipient> ReadRecipients(SettingsReader r, string path)
    {
        try
        {
            return AgeRecipient.ReadFile(path);
        }
        catch (Exception e) when (e is AgeException or IOException or UnauthorizedAccessException)
        {
            r.AddError("Backup:RecipientsFile", path, $"{e.Message}; allowed: a readable file of age recipients (age1..., one per line)");
            return [];
        }
    }
}
