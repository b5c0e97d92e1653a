using System.Text.Json;

namespace Kldload.ImageStore;

/// <summary>
/// The signature file of an image bundle (<c>bundle.sig</c>) or a kit (<c>kit.sig</c>): JSON
/// <c>{"algorithm", "keyId", "signature"}</c>, the signature (base64) over the exact bytes of the
/// index entry. One check for both: same algorithms, same key ids, same trusted-keys directory.
/// </summary>
public static class BundleSignature
{
    /// <summary>
    /// Verifies <paramref name="signatureFile"/> over <paramref name="index"/> with a key of
    /// <paramref name="trusted"/> and returns the signer's key id. Throws <see cref="BundleException"/>
    /// naming the first check that fails, worded with <paramref name="entries"/>.
    /// </summary>
    public static string Verify(byte[] index, byte[] signatureFile, TrustedKeys trusted, SignedEntries entries)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(signatureFile);
        ArgumentNullException.ThrowIfNull(trusted);
        ArgumentNullException.ThrowIfNull(entries);
        string? algorithm, keyId, signature;
        try
        {
            using var doc = JsonDocument.Parse(signatureFile);
            var r = doc.RootElement;
            algorithm = r.TryGetProperty("algorithm", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            keyId = r.TryGetProperty("keyId", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            signature = r.TryGetProperty("signature", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        }
        catch (JsonException e)
        {
            throw new BundleException($"{entries.SignatureEntry} is not valid JSON ({e.Message}){entries.RefusalSuffix}", e);
        }

        if (algorithm is null || keyId is null || signature is null || BundleSignatureAlgorithmNames.FromText(algorithm) is not { } alg)
        {
            throw new BundleException($"{entries.SignatureEntry} needs algorithm (ed25519 or ecdsa-p256-sha256), keyId and signature{entries.RefusalSuffix}");
        }

        var key = trusted.Find(keyId)
            ?? throw new BundleException($"{entries.Subject} is signed by key {keyId}, which is not among the {trusted.Keys.Count} trusted keys in {trusted.Directory}{entries.RefusalSuffix}");
        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(signature);
        }
        catch (FormatException e)
        {
            throw new BundleException($"{entries.SignatureEntry}: signature is not base64{entries.RefusalSuffix}", e);
        }

        if (key.Algorithm != alg || !key.Verify(index, raw))
        {
            throw new BundleException($"signature does not verify with trusted key {keyId} ({key.Source}): {entries.IndexEntry} was altered or signed by another key{entries.RefusalSuffix}");
        }

        return keyId;
    }
}

/// <summary>How a signed archive names itself in a refusal.</summary>
/// <param name="Subject">The archive: <c>bundle</c>, <c>kit</c>.</param>
/// <param name="IndexEntry">The signed index entry.</param>
/// <param name="SignatureEntry">The signature entry.</param>
/// <param name="RefusalSuffix">Appended to every refusal (<c>; nothing imported</c>), or empty.</param>
public sealed record SignedEntries(string Subject, string IndexEntry, string SignatureEntry, string RefusalSuffix);
