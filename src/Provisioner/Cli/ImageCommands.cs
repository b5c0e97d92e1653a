using System.CommandLine;

namespace Kldload.Provisioner.Cli;

/// <summary><c>kldload image ...</c>: manage the image store in <c>{Kldload:DataDir}</c>.</summary>
internal static class ImageCommands
{
    /// <summary>The <c>image</c> command and its subcommands. They land with the image store issue.</summary>
    public static Command Create() => new("image", "Manage live images: import, list, show, promote, rollback, export, gc, verify.");
}
