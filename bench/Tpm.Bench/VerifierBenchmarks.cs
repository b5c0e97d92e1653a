using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Verification;

namespace Kldload.Tpm.Bench;

/// <summary>
/// Verifier-side throughput (no TPM): what one provisioner core does per attesting node in a boot storm.
/// Inputs are the swtpm captures in tests/Tpm.Tests/TestData/vectors.json.
/// </summary>
[MemoryDiagnoser]
public class VerifierBenchmarks
{
    private TpmtPublic _ekRsa = null!;
    private TpmtPublic _ekEcc = null!;
    private byte[] _akNameRsa = null!;
    private byte[] _akNameEcc = null!;
    private TpmtPublic _akRsa = null!;
    private byte[] _attest = null!;
    private TpmtSignature _signature = null!;
    private byte[] _nonce = null!;
    private Dictionary<(TpmAlgId Hash, int Pcr), byte[]> _pcrs = null!;
    private readonly byte[] _secret = new byte[32];
    private static readonly TpmlPcrSelection Pcr0To7 = TpmlPcrSelection.Create(TpmAlgId.Sha256, 0, 1, 2, 3, 4, 5, 6, 7);

    [GlobalSetup]
    public void Setup()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", "vectors.json")));
        var root = doc.RootElement;
        byte[] Hex(string section, string key) => Convert.FromHexString(root.GetProperty(section).GetProperty(key).GetString()!);
        _ekRsa = TpmMarshal.Read<TpmtPublic>(Hex("ek_rsa", "tpmt"));
        _ekEcc = TpmMarshal.Read<TpmtPublic>(Hex("ek_ecc", "tpmt"));
        _akNameRsa = Hex("ak_rsa", "name");
        _akNameEcc = Hex("ak_ecc", "name");
        _akRsa = TpmMarshal.Read<TpmtPublic>(Hex("ak_rsa", "tpmt"));

        // Quote response (log 18) and PCR_Read response (log 19) of the capture.
        var log = root.GetProperty("log");
        var quoteRsp = Convert.FromHexString(log[18].GetProperty("rsp").GetString()!);
        var r = new TpmReader(quoteRsp.AsSpan(14));
        _attest = r.ReadSizedArray();
        TpmtSignature.TryRead(ref r, out _signature);
        _nonce = System.Security.Cryptography.SHA256.HashData("server-nonce"u8);
        var pcrRsp = Convert.FromHexString(log[19].GetProperty("rsp").GetString()!);
        var p = new TpmReader(pcrRsp.AsSpan(10));
        p.ReadUInt32();
        TpmlPcrSelection.TryRead(ref p, out _);
        var count = p.ReadUInt32();
        _pcrs = [];
        for (var i = 0; i < count; i++)
        {
            _pcrs[(TpmAlgId.Sha256, i)] = p.ReadSizedArray();
        }

        QuoteVerify(); // fail fast if the inputs are wrong
    }

    [Benchmark]
    public MadeCredential MakeCredentialRsa2048() => CredentialMaker.Make(_ekRsa, _akNameRsa, _secret);

    [Benchmark]
    public MadeCredential MakeCredentialEccP256() => CredentialMaker.Make(_ekEcc, _akNameEcc, _secret);

    [Benchmark]
    public TpmsAttest QuoteVerify()
    {
        AkPolicy.Validate(_akRsa);
        return QuoteVerifier.Verify(_akRsa, _attest, _signature, _nonce, Pcr0To7, _pcrs);
    }
}
