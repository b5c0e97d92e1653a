namespace Kldload.Dhcp.Protocol;

/// <summary>The <c>op</c> field of the fixed header (RFC 2131 section 2, RFC 951).</summary>
public enum BootOp : byte
{
    BootRequest = 1,
    BootReply = 2,
}
