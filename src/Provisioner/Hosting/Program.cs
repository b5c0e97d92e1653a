using Kldload.Provisioner.Cli;
using Kldload.Provisioner.Hosting;

return await KldloadCli.RunAsync(args, KldloadHost.RunAsync).ConfigureAwait(false);
