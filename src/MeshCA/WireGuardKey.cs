namespace Kldload.MeshCA;

/// <summary>Curve25519 private-key helpers shared by the provisioner and the node agent.</summary>
public static class WireGuardKey
{
    /// <summary>Length of a WireGuard (X25519) key in bytes.</summary>
    public const int Length = 32;

    /// <summary>
    /// Clamps 32 bytes into an X25519 scalar as RFC 7748 section 5 and <c>wg genkey</c> do:
    /// clear the low three bits, clear the top bit, set bit 254.
    /// </summary>
    public static void Clamp(Span<byte> scalar)
    {
        if (scalar.Length != Length)
        {
            throw new ArgumentException($"an X25519 scalar is {Length} bytes, got {scalar.Length}", nameof(scalar));
        }

        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
    }
}
