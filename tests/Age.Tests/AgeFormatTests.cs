using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Kldload.Age.Tests;

/// <summary>
/// The age v1 format kldload's backups use, checked against RFC 7914's scrypt vectors and against
/// the real <c>age</c> and <c>age-keygen</c> tools (Debian's age package) in both directions.
/// </summary>
public sealed class AgeFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("klage-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("", "", 4, 1, 1, "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")]
    [InlineData("password", "NaCl", 10, 8, 16, "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")]
    [InlineData("pleaseletmein", "SodiumChloride", 14, 8, 1, "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887")]
    public void Scrypt_Rfc7914Vectors_Match(string password, string salt, int logN, int r, int p, string expectedHex)
    {
        var key = Scrypt.DeriveKey(Encoding.ASCII.GetBytes(password), Encoding.ASCII.GetBytes(salt), logN, r, p, 64);
        Assert.Equal(expectedHex, Convert.ToHexStringLower(key));
    }

    [Fact]
    [Trait("Tier", "Peer")]
    public async Task Identity_AgeKeygenFile_ParsesToTheRecipientAgeKeygenPrints()
    {
        var file = Path.Combine(_dir, "id.txt");
        Assert.Equal(0, (await Run("age-keygen", "-o", file)).Code);
        var printed = (await Run("age-keygen", "-y", file)).Output.Trim();

        var identity = Assert.Single(AgeIdentity.ReadFile(file));
        Assert.Equal(printed, identity.Recipient.ToString());
        Assert.True(AgeRecipient.TryParse(printed, out var parsed, out _));
        Assert.Equal(identity.Recipient, parsed);

        // And the other way: age-keygen reads an identity kldload generated.
        var ours = AgeIdentity.Generate();
        var ourFile = Path.Combine(_dir, "ours.txt");
        await File.WriteAllTextAsync(ourFile, ours.ToFileText(DateTimeOffset.UtcNow));
        Assert.Equal(ours.Recipient.ToString(), (await Run("age-keygen", "-y", ourFile)).Output.Trim());
    }

    [Theory]
    [Trait("Tier", "Peer")]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65536)]
    [InlineData((65536 * 3) + 5)]
    public async Task Encrypt_ToAgeKeygenRecipient_AgeDecryptsTheSameBytes(int size)
    {
        var idFile = Path.Combine(_dir, "id.txt");
        await Run("age-keygen", "-o", idFile);
        var identity = AgeIdentity.ReadFile(idFile)[0];
        var plain = RandomNumberGenerator.GetBytes(size);
        var sealedFile = Path.Combine(_dir, "x.age");
        await using (var file = File.Create(sealedFile))
        {
            await using var age = AgeEncryptingStream.ToRecipients(file, [identity.Recipient, AgeIdentity.Generate().Recipient]);
            await age.WriteAsync(plain);
            await age.CompleteAsync();
        }

        var outFile = Path.Combine(_dir, "x.out");
        var run = await Run("age", "-d", "-i", idFile, "-o", outFile, sealedFile);
        Assert.True(run.Code == 0, run.Output);
        // age opens -o lazily: an empty plaintext leaves no output file.
        Assert.Equal(plain, File.Exists(outFile) ? await File.ReadAllBytesAsync(outFile) : []);
    }

    [Theory]
    [Trait("Tier", "Peer")]
    [InlineData(0)]
    [InlineData(65536)]
    [InlineData(200_001)]
    public async Task Decrypt_FileAgeEncrypted_SameBytes(int size)
    {
        var ours = AgeIdentity.Generate();
        var plain = RandomNumberGenerator.GetBytes(size);
        var plainFile = Path.Combine(_dir, "p.bin");
        await File.WriteAllBytesAsync(plainFile, plain);
        var sealedFile = Path.Combine(_dir, "p.age");
        Assert.Equal(0, (await Run("age", "-r", ours.Recipient.ToString(), "-o", sealedFile, plainFile)).Code);

        await using var input = File.OpenRead(sealedFile);
        await using var age = AgeDecryptingStream.Open(input, new AgeKeys { Identities = [AgeIdentity.Generate(), ours] });
        using var output = new MemoryStream();
        await age.CopyToAsync(output);
        Assert.Equal(plain, output.ToArray());
    }

    [Fact]
    public void Passphrase_RoundTrip_AndWrongPassphraseRefused()
    {
        var plain = RandomNumberGenerator.GetBytes(70_000);
        var sealedBytes = Seal(plain, s => AgeEncryptingStream.WithPassphrase(s, "correct horse", logN: 10, leaveOpen: true));

        Assert.Equal(plain, Open(sealedBytes, new AgeKeys { Passphrase = "correct horse" }));
        var wrong = Assert.Throws<AgeException>(() => Open(sealedBytes, new AgeKeys { Passphrase = "battery staple" }));
        Assert.Equal(AgeFailure.WrongKey, wrong.Failure);
        Assert.Contains("wrong passphrase", wrong.Message, StringComparison.Ordinal);
        var noKey = Assert.Throws<AgeException>(() => Open(sealedBytes, new AgeKeys { Identities = [AgeIdentity.Generate()] }));
        Assert.Equal(AgeFailure.WrongKey, noKey.Failure);
    }

    [Fact]
    public void Decrypt_WrongIdentity_RefusedAsWrongKey()
    {
        var sealedBytes = Seal(new byte[10], s => AgeEncryptingStream.ToRecipients(s, [AgeIdentity.Generate().Recipient], leaveOpen: true));
        var e = Assert.Throws<AgeException>(() => Open(sealedBytes, new AgeKeys { Identities = [AgeIdentity.Generate()] }));
        Assert.Equal(AgeFailure.WrongKey, e.Failure);
    }

    [Theory]
    [InlineData(-1)]        // last byte: the final chunk's tag
    [InlineData(-70_000)]   // inside the first chunk
    public void Decrypt_FlippedPayloadByte_Damaged(int fromEnd)
    {
        var id = AgeIdentity.Generate();
        var sealedBytes = Seal(RandomNumberGenerator.GetBytes(100_000), s => AgeEncryptingStream.ToRecipients(s, [id.Recipient], leaveOpen: true));
        sealedBytes[^-fromEnd] ^= 0x01;
        var e = Assert.Throws<AgeException>(() => Open(sealedBytes, new AgeKeys { Identities = [id] }));
        Assert.Equal(AgeFailure.Damaged, e.Failure);
    }

    [Fact]
    public void Decrypt_FlippedMacByte_Damaged()
    {
        var id = AgeIdentity.Generate();
        var sealedBytes = Seal(new byte[100], s => AgeEncryptingStream.ToRecipients(s, [id.Recipient], leaveOpen: true));
        var mac = Encoding.ASCII.GetString(sealedBytes).IndexOf("--- ", StringComparison.Ordinal) + 5;
        sealedBytes[mac] = sealedBytes[mac] == (byte)'A' ? (byte)'B' : (byte)'A';
        var e = Assert.Throws<AgeException>(() => Open(sealedBytes, new AgeKeys { Identities = [id] }));
        Assert.Equal(AgeFailure.Damaged, e.Failure);
    }

    [Theory]
    [InlineData(65536 * 2, 1)]          // cut inside the final chunk
    [InlineData(65536 * 2, 16)]         // only the final chunk (here: one whole tag-sized piece) missing
    [InlineData(65536 * 2 + 10, 26)]    // the final chunk missing: ends exactly on a chunk boundary
    public void Decrypt_Truncated_Refused(int size, int cut)
    {
        var id = AgeIdentity.Generate();
        var sealedBytes = Seal(RandomNumberGenerator.GetBytes(size), s => AgeEncryptingStream.ToRecipients(s, [id.Recipient], leaveOpen: true));
        var e = Assert.Throws<AgeException>(() => Open(sealedBytes[..^cut], new AgeKeys { Identities = [id] }));
        Assert.True(e.Failure is AgeFailure.Truncated or AgeFailure.Damaged, e.Message);
        if (size % 65536 == 10)
        {
            Assert.Equal(AgeFailure.Truncated, e.Failure);
        }
    }

    [Fact]
    public void Encrypt_NotCompleted_ReadsAsTruncated()
    {
        var id = AgeIdentity.Generate();
        using var buffer = new MemoryStream();
        using (var age = AgeEncryptingStream.ToRecipients(buffer, [id.Recipient], leaveOpen: true))
        {
            age.Write(RandomNumberGenerator.GetBytes(200_000));
        }

        var e = Assert.Throws<AgeException>(() => Open(buffer.ToArray(), new AgeKeys { Identities = [id] }));
        Assert.Equal(AgeFailure.Truncated, e.Failure);
    }

    [Fact]
    public void Open_NotAnAgeFile_Refused()
    {
        var e = Assert.Throws<AgeException>(() => Open(Encoding.ASCII.GetBytes("PK\x03\x04 this is a zip\n"), new AgeKeys { Passphrase = "x" }));
        Assert.Equal(AgeFailure.NotAge, e.Failure);
    }

    private static byte[] Seal(byte[] plain, Func<Stream, AgeEncryptingStream> create)
    {
        using var buffer = new MemoryStream();
        using (var age = create(buffer))
        {
            age.Write(plain);
            age.Complete();
        }

        return buffer.ToArray();
    }

    private static byte[] Open(byte[] sealedBytes, AgeKeys keys)
    {
        using var age = AgeDecryptingStream.Open(new MemoryStream(sealedBytes), keys);
        using var output = new MemoryStream();
        age.CopyTo(output);
        return output.ToArray();
    }

    private static async Task<(int Code, string Output)> Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }
}
