namespace Kldload.Provisioner.Cli;

/// <summary>Process exit codes of every kldload command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadSettings = 2;
}
