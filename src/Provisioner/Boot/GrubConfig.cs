using System.Text;

namespace Kldload.Provisioner.Boot;

/// <summary>
/// GRUB configurations for the signed loader path (<c>Boot:Loader=grub</c>, docs/boot.md "Secure Boot").
/// Debian's <c>grubnetx64.efi.signed</c> has the prefix <c>/grub</c> on the TFTP server it was loaded
/// from and an embedded script that sources <c>$prefix/x86_64-efi/grub.cfg</c> when that exists, else
/// <c>$prefix/grub.cfg</c> (seen in its TFTP requests). It has no <c>http</c> module built in, and with
/// Secure Boot on GRUB loads no modules, so everything after it comes over TFTP from kldload:
/// <see cref="Bootstrap"/> as <c>grub/grub.cfg</c>, which reads <c>grub/node/MAC.cfg</c> (the node's own
/// configuration, <see cref="Boot"/> or <see cref="NoImage"/>), which loads <c>images/DIGEST</c>.
/// Every value that reaches a GRUB command is single-quoted (GRUB's shell expands nothing inside
/// single quotes) and may hold no control character, so no node name or kernel argument can inject a command.
/// </summary>
public static class GrubConfig
{
    /// <summary>The TFTP path Debian's GRUB network image reads when <c>$prefix/x86_64-efi/grub.cfg</c> is missing.</summary>
    public const string TftpPath = "grub/grub.cfg";

    /// <summary>The TFTP folder of per-node configurations: <c>grub/node/MAC.cfg</c>.</summary>
    public const string NodeFolder = "grub/node/";

    /// <summary>The first configuration (the same for every node): reads the node's own by the MAC of the NIC GRUB booted from.</summary>
    public static string Bootstrap() =>
        "# kldload: GRUB network boot (Boot:Loader=grub); the node's own configuration is grub/node/MAC.cfg\n"
        + "set timeout=0\n"
        + "echo 'kldload: GRUB reads the configuration of this node'\n"
        + "configfile \"$prefix/node/${net_default_mac}.cfg\"\n";

    /// <summary>The node's configuration: the served kernel and initrd over TFTP with kldload's arguments.</summary>
    public static string Boot(Uri server, GrubBoot boot)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(boot);
        var text = new StringBuilder();
        text.Append("# kldload: node ").Append(Comment(boot.NodeName)).Append(" (").Append(Comment(boot.NodeId)).Append(") boots ")
            .Append(Comment(boot.ImageName)).Append(' ').Append(Comment(boot.ImageVersion)).Append(": ").Append(Comment(boot.Explanation)).Append('\n');
        text.Append("echo ").Append(Quote($"kldload: booting {boot.ImageName} {boot.ImageVersion} on {boot.NodeName}")).Append('\n');
        text.Append("linux ").Append(ImagePath(boot.KernelDigest));
        foreach (var word in Arguments(server, boot))
        {
            text.Append(' ').Append(Quote(word));
        }

        text.Append('\n');
        text.Append("initrd ").Append(ImagePath(boot.InitrdDigest)).Append('\n');
        text.Append("boot\n");
        return text.ToString();
    }

    /// <summary>
    /// The kernel command line GRUB hands the kernel for <see cref="Boot"/>: GRUB's own
    /// <c>BOOT_IMAGE=</c> word (the kernel's path as written) first, then the arguments.
    /// </summary>
    public static string LoadOptions(Uri server, GrubBoot boot)
    {
        ArgumentNullException.ThrowIfNull(boot);
        return string.Join(' ', new[] { "BOOT_IMAGE=" + ImagePath(boot.KernelDigest) }.Concat(Arguments(server, boot)));
    }

    /// <summary>A node with nothing to boot: says why, waits a minute and reads its configuration again.</summary>
    public static string NoImage(string mac, string nodeId, string nodeName, string explanation) =>
        $"# kldload: node {Comment(nodeName)} ({Comment(nodeId)}) has nothing to boot: {Comment(explanation)}\n"
        + $"echo {Quote($"kldload: node {nodeName} ({nodeId}) is recorded but has no image to boot.")}\n"
        + $"echo {Quote("kldload: " + explanation)}\n"
        + $"echo {Quote($"kldload: assign one (kldload nodes reimage {nodeId} --channel NAME) or set Boot:DefaultChannel; retrying in 60 s.")}\n"
        + "sleep 60\n"
        + $"configfile \"$prefix/node/{Mac(mac)}.cfg\"\n";

    /// <summary>An image file on kldload's TFTP server (the root GRUB booted from).</summary>
    private static string ImagePath(string digest) => "/images/" + Hex(digest);

    private static IEnumerable<string> Arguments(Uri server, GrubBoot boot)
    {
        var words = boot.CommandLine.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList();
        words.Add("kldload.server=" + server.AbsoluteUri.TrimEnd('/'));
        words.Add("kldload.token=" + boot.Token);
        foreach (var word in words)
        {
            if (word.Any(char.IsControl))
            {
                throw new ArgumentException($"kernel argument '{word}' holds a control character", nameof(boot));
            }
        }

        return words;
    }

    /// <summary>GRUB single quotes: nothing inside is expanded; a quote is closed, escaped and reopened.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Any(char.IsControl))
        {
            throw new ArgumentException("a GRUB value may not hold a control character", nameof(value));
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private static string Comment(string value) =>
        value.Any(char.IsControl) ? throw new ArgumentException("a GRUB comment may not hold a control character", nameof(value)) : value;

    private static string Hex(string digest) =>
        digest.All(char.IsAsciiHexDigitLower) ? digest : throw new ArgumentException($"'{digest}' is not a lowercase hex digest", nameof(digest));

    private static string Mac(string mac) =>
        mac.All(c => char.IsAsciiHexDigit(c) || c == ':') ? mac : throw new ArgumentException($"'{mac}' is not a MAC address", nameof(mac));
}

/// <summary>What one node's GRUB configuration boots.</summary>
public sealed record GrubBoot(
    string NodeId,
    string NodeName,
    string ImageName,
    string ImageVersion,
    string KernelDigest,
    string InitrdDigest,
    string CommandLine,
    string Token,
    string Explanation);
