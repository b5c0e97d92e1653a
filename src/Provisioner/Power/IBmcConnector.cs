using Kldload.Bmc;
using Kldload.Bmc.Ipmi;
using Kldload.Bmc.Redfish;

namespace Kldload.Provisioner.Power;

/// <summary>Opens a client for a BMC record; a test can stand in for it.</summary>
public interface IBmcConnector
{
    Task<IBmcClient> ConnectAsync(BmcRecord record, string password, CancellationToken cancellationToken);
}

/// <summary>
/// IPMI over LAN or Redfish over HTTPS, by the record's protocol. IPMI waits 1, 2 and 4 s for each
/// request (7 s at most); Redfish three attempts of 5 s: either stays under the CLI's 30 s.
/// </summary>
public sealed class BmcConnector : IBmcConnector
{
    public async Task<IBmcClient> ConnectAsync(BmcRecord record, string password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Protocol switch
        {
            BmcProtocol.Ipmi => await IpmiLanClient.ConnectAsync(
                new IpmiLanOptions { Host = record.Address, Port = record.Port, User = record.User, Password = password },
                cancellationToken).ConfigureAwait(false),
            _ => new RedfishClient(new RedfishOptions
            {
                BaseAddress = new Uri(record.Address),
                SystemId = record.SystemId ?? "1",
                User = record.User,
                Password = password,
                CertificateFingerprint = record.Fingerprint,
                // Three attempts of 5 s with 1 s and 2 s between them: an answer, or an error, within 20 s.
                AttemptTimeout = TimeSpan.FromSeconds(5),
            }),
        };
    }
}
