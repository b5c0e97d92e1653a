namespace Kldload.MeshCA;

/// <summary>
/// TPM2_HMAC (TPM 2.0 Part 3, section 15.5) with the node's keyedHash primary K: the one TPM operation
/// the WireGuard key derivation needs. K is created under the owner hierarchy from a fixed template
/// (TPM 2.0 Part 1 section 27.6: a primary key is a function of the hierarchy seed and the template), so
/// the same TPM always gives the same HMAC, and a TPM clear (new owner seed) or another board a different
/// one. Implemented by Kldload.Tpm on the node; by tpm2-tools in the tests.
/// </summary>
public interface ITpmHmac
{
    /// <summary>HMAC-SHA256 of <paramref name="message"/> under K, computed inside the TPM (32 bytes).</summary>
    byte[] Hmac(ReadOnlySpan<byte> message);
}
