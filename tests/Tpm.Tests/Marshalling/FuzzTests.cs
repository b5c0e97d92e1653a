using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Tests.Marshalling;

/// <summary>Random and bit-flipped inputs: parsers answer true/false or a typed refusal, never another exception.</summary>
public class FuzzTests
{
    private const int Iterations = 3000;

    private static void NeverThrows<T>(ReadOnlySpan<byte> bytes) where T : ITpmStructure<T>
    {
        if (TpmMarshal.TryRead<T>(bytes, out var value, out var error))
        {
            Assert.Null(error);
            // Whatever parses must write back to the same bytes.
            Assert.Equal(bytes.ToArray(), TpmMarshal.ToBytes(value));
        }
        else
        {
            Assert.NotNull(error);
        }
    }

    private static IEnumerable<byte[]> Mutations(byte[] seed, int seedValue)
    {
        var random = new Random(seedValue);
        for (var i = 0; i < Iterations; i++)
        {
            var bytes = (byte[])seed.Clone();
            var flips = 1 + random.Next(4);
            for (var f = 0; f < flips; f++)
            {
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            }

            yield return random.Next(4) == 0 ? bytes[..random.Next(bytes.Length)] : bytes;
        }
    }

    [Fact]
    public void TryRead_MutatedCapturedStructures_NeverThrowAndRoundTrip()
    {
        foreach (var b in Mutations(TestVectors.Hex("ek_rsa", "tpmt"), 1))
        {
            NeverThrows<TpmtPublic>(b);
        }

        foreach (var b in Mutations(TestVectors.Hex("ek_ecc", "tpmt"), 2))
        {
            NeverThrows<TpmtPublic>(b);
        }

        foreach (var b in Mutations(TestVectors.File("ak.pub"), 3))
        {
            NeverThrows<Tpm2bPublic>(b);
        }

        foreach (var b in Mutations(TestVectors.File("quote.msg"), 4))
        {
            NeverThrows<TpmsAttest>(b);
        }

        foreach (var b in Mutations(TestVectors.File("quote.sig"), 5))
        {
            NeverThrows<TpmtSignature>(b);
        }

        foreach (var b in Mutations(TestVectors.File("cred.blob")[8..], 6))
        {
            var r = new TpmReader(b);
            if (Tpm2bIdObject.TryRead(ref r, out _))
            {
                Tpm2bEncryptedSecret.TryRead(ref r, out _);
            }
        }
    }

    [Fact]
    public void TryRead_RandomBytes_NeverThrow()
    {
        var random = new Random(7);
        for (var i = 0; i < Iterations; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            NeverThrows<TpmtPublic>(bytes);
            NeverThrows<TpmsAttest>(bytes);
            NeverThrows<TpmtSignature>(bytes);
            NeverThrows<TpmlPcrSelection>(bytes);
            NeverThrows<TpmsNvPublic>(bytes);
        }
    }

    [Fact]
    public void EventLogParser_MutatedInputs_OnlyMalformed()
    {
        var log = File.ReadAllBytes(TestVectors.PathOf("ovmf/binary_bios_measurements"));
        foreach (var b in Mutations(log, 8).Take(1000))
        {
            try
            {
                TcgEventLog.Parse(b).Replay(TpmAlgId.Sha256);
            }
            catch (AttestationException e)
            {
                Assert.Equal(AttestationFailure.Malformed, e.Failure);
            }
        }
    }
}
