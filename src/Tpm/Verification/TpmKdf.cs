using System.Buffers.Binary;
using System.Text;
using Kldload.Tpm.Structures;

namespace Kldload.Tpm.Verification;

/// <summary>The TPM key derivation functions (TPM 2.0 Part 1, clause 11.4.10).</summary>
public static class TpmKdf
{
    /// <summary>
    /// KDFa (SP 800-108 counter mode with HMAC): for i = 1.., <c>HMAC_hash(key, i u32 | label | 00 | contextU | contextV | bits u32)</c>,
    /// concatenated and truncated to <paramref name="bits"/>.
    /// </summary>
    public static byte[] KdfA(TpmAlgId hash, ReadOnlySpan<byte> key, string label, ReadOnlySpan<byte> contextU, ReadOnlySpan<byte> contextV, int bits)
    {
        var labelBytes = Encoding.ASCII.GetBytes(label);
        var bytes = (bits + 7) / 8;
        var result = new byte[bytes];
        var input = new byte[4 + labelBytes.Length + 1 + contextU.Length + contextV.Length + 4];
        labelBytes.CopyTo(input, 4);
        contextU.CopyTo(input.AsSpan(4 + labelBytes.Length + 1));
        contextV.CopyTo(input.AsSpan(4 + labelBytes.Length + 1 + contextU.Length));
        BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(input.Length - 4), (uint)bits);
        var done = 0;
        for (uint i = 1; done < bytes; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input, i);
            var block = TpmHash.Hmac(hash, key, input);
            var take = Math.Min(block.Length, bytes - done);
            block.AsSpan(0, take).CopyTo(result.AsSpan(done));
            done += take;
        }

        return result;
    }

    /// <summary>
    /// KDFe (SP 800-56A concatenation KDF): for i = 1.., <c>H(i u32 | Z | label | 00 | partyU | partyV)</c>,
    /// concatenated and truncated to <paramref name="bits"/>.
    /// </summary>
    public static byte[] KdfE(TpmAlgId hash, ReadOnlySpan<byte> z, string label, ReadOnlySpan<byte> partyU, ReadOnlySpan<byte> partyV, int bits)
    {
        var labelBytes = Encoding.ASCII.GetBytes(label);
        var bytes = (bits + 7) / 8;
        var result = new byte[bytes];
        var input = new byte[4 + z.Length + labelBytes.Length + 1 + partyU.Length + partyV.Length];
        z.CopyTo(input.AsSpan(4));
        labelBytes.CopyTo(input, 4 + z.Length);
        partyU.CopyTo(input.AsSpan(4 + z.Length + labelBytes.Length + 1));
        partyV.CopyTo(input.AsSpan(4 + z.Length + labelBytes.Length + 1 + partyU.Length));
        var done = 0;
        for (uint i = 1; done < bytes; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input, i);
            var block = TpmHash.Compute(hash, input);
            var take = Math.Min(block.Length, bytes - done);
            block.AsSpan(0, take).CopyTo(result.AsSpan(done));
            done += take;
        }

        return result;
    }
}
