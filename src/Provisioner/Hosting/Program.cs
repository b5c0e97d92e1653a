using Kldload.Provisioner.Cli;

return await KldloadCli.RunAsync(args).ConfigureAwait(false);
