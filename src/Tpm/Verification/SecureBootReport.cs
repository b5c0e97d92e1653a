using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>
/// What PCR 7's events say about Secure Boot (TCG PC Client Platform Firmware Profile 1.05, section
/// 3.3.4.8): the firmware measures the <c>SecureBoot</c> variable and the key databases <c>PK</c>,
/// <c>KEK</c>, <c>db</c> and <c>dbx</c> as EV_EFI_VARIABLE_DRIVER_CONFIG, and, for each image it starts
/// under Secure Boot, the db entry that verified it as EV_EFI_VARIABLE_AUTHORITY (once per distinct
/// entry). shim adds its own authorities (its built-in vendor certificate as <c>Shim</c>, <c>MokList</c>
/// entries, <c>SbatLevel</c>) the same way. Only events whose SHA-256 digest is the hash of their data are
/// read: the digests are what the quote proves (by replay), the data is believed only when it hashes to them.
/// </summary>
public sealed record SecureBootReport
{
    /// <summary>The <c>SecureBoot</c> variable as measured: true = 1, false = 0 or absent; null when PCR 7 has no driver-config events at all.</summary>
    public bool? Enabled { get; init; }

    /// <summary>Subjects (common name) of the X.509 entries of PK, KEK and db, by variable.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Keys { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>How many revocations dbx holds (digests and certificates).</summary>
    public int DbxEntries { get; init; }

    /// <summary>The authorities that verified the images started, in log order: <c>db: Microsoft Corporation UEFI CA 2011</c>, <c>Shim: Debian Secure Boot CA</c>.</summary>
    public IReadOnlyList<string> Authorities { get; init; } = [];

    /// <summary>PCR 7 events whose data is not what their digest covers, or does not parse; described.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>Reads PCR 7 of a parsed (and replayed) event log.</summary>
    public static SecureBootReport FromLog(TcgEventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        bool? enabled = null;
        var keys = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var dbx = 0;
        var authorities = new List<string>();
        var problems = new List<string>();
        foreach (var e in log.Events.Where(e => e.PcrIndex == 7 && e.EventType is TcgEventType.EfiVariableDriverConfig or TcgEventType.EfiVariableAuthority))
        {
            if (!e.Digests.TryGetValue(TpmAlgId.Sha256, out var digest) || !SHA256.HashData(e.Data).AsSpan().SequenceEqual(digest))
            {
                problems.Add($"event {e.Index} ({e.EventType}): its data is not what its SHA-256 digest covers");
                continue;
            }

            if (!UefiVariableData.TryRead(e.Data, out var variable, out var error))
            {
                problems.Add($"event {e.Index} ({e.EventType}): {error}");
                continue;
            }

            if (e.EventType == TcgEventType.EfiVariableAuthority)
            {
                authorities.Add($"{variable!.Name}: {Authority(variable.Data)}");
                continue;
            }

            enabled ??= false;
            switch (variable!.Name)
            {
                case "SecureBoot":
                    enabled = variable.Data.Length >= 1 && variable.Data[0] == 1;
                    break;
                case "PK" or "KEK" or "db":
                    if (EfiSignatureList.TryRead(variable.Data, out var entries, out var listError))
                    {
                        keys[variable.Name] = entries.Where(x => x.Type == EfiSignatureList.CertX509).Select(x => Subject(x.Data)).ToList();
                    }
                    else
                    {
                        problems.Add($"event {e.Index} ({variable.Name}): {listError}");
                    }

                    break;
                case "dbx":
                    if (EfiSignatureList.TryRead(variable.Data, out var revoked, out var dbxError))
                    {
                        dbx = revoked.Count;
                    }
                    else
                    {
                        problems.Add($"event {e.Index} (dbx): {dbxError}");
                    }

                    break;
            }
        }

        return new SecureBootReport { Enabled = enabled, Keys = keys, DbxEntries = dbx, Authorities = authorities, Problems = problems };
    }

    /// <summary>
    /// An authority's data: EFI_SIGNATURE_DATA (owner GUID, then a DER certificate) from db or MokList,
    /// a bare DER certificate (shim's vendor certificate), or something else (SbatLevel's text).
    /// </summary>
    private static string Authority(byte[] data)
    {
        if (data.Length > 16 && TrySubject(data.AsSpan(16), out var owned))
        {
            return owned;
        }

        if (TrySubject(data, out var bare))
        {
            return bare;
        }

        var text = new string(System.Text.Encoding.ASCII.GetString(data).TakeWhile(c => c is >= ' ' and <= '~').ToArray());
        return text.Length > 0 ? text.Length <= 64 ? text : text[..64] : $"{data.Length} octets";
    }

    private static string Subject(byte[] der) => TrySubject(der, out var subject) ? subject : $"(unreadable certificate, {der.Length} octets)";

    private static bool TrySubject(ReadOnlySpan<byte> der, out string subject)
    {
        subject = string.Empty;
        if (der.Length < 4 || der[0] != 0x30)
        {
            return false;
        }

        try
        {
            using var certificate = X509CertificateLoader.LoadCertificate(der);
            var name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
            subject = string.IsNullOrEmpty(name) ? certificate.Subject : name;
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
