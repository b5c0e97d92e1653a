using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Kldload.MeshCA.Distribution;

/// <summary>
/// The signed payload of a <see cref="PeerBundle"/>: compact UTF-8 JSON written field by field (no
/// reflection, AOT-safe), so that the bytes the CA signs are exactly the bytes a node verifies.
/// <code>
/// {"v":1,"node":"n1","epoch":12,"issued":"2026-11-26T10:00:00.0000000+00:00","keyEpoch":0,
///  "addresses":["fd12:3456:789a:1:aaaa:bbbb:cccc:dddd/64"],"listenPort":null,
///  "peers":[{"name":"hub","publicKey":"base64","allowedIps":["fd12:3456:789a:1::/64"],
///            "endpoint":"192.0.2.1:51820","keepalive":25}],
///  "revoked":["base64"]}
/// </code>
/// </summary>
public static class PeerBundleCodec
{
    /// <summary>Serializes <paramref name="bundle"/>.</summary>
    public static byte[] Write(PeerBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("v", PeerBundle.FormatVersion);
            w.WriteString("node", bundle.NodeId);
            w.WriteNumber("epoch", bundle.Epoch);
            w.WriteString("issued", bundle.IssuedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            w.WriteNumber("keyEpoch", bundle.KeyEpoch);
            w.WriteStartArray("addresses");
            foreach (var a in bundle.Addresses)
            {
                w.WriteStringValue(a.ToString());
            }

            w.WriteEndArray();
            if (bundle.ListenPort is { } port)
            {
                w.WriteNumber("listenPort", port);
            }
            else
            {
                w.WriteNull("listenPort");
            }

            w.WriteStartArray("peers");
            foreach (var p in bundle.Peers)
            {
                w.WriteStartObject();
                w.WriteString("name", p.Name);
                w.WriteString("publicKey", WireGuardKey.ToBase64(p.PublicKey));
                w.WriteStartArray("allowedIps");
                foreach (var n in p.AllowedIps)
                {
                    w.WriteStringValue(n.ToString());
                }

                w.WriteEndArray();
                if (p.Endpoint is { } e)
                {
                    w.WriteString("endpoint", e);
                }
                else
                {
                    w.WriteNull("endpoint");
                }

                w.WriteNumber("keepalive", p.PersistentKeepalive);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("revoked");
            foreach (var k in bundle.Revoked)
            {
                w.WriteStringValue(WireGuardKey.ToBase64(k));
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses a payload; on failure <paramref name="error"/> names the field.</summary>
    public static bool TryRead(ReadOnlySpan<byte> payload, out PeerBundle? bundle, out string? error)
    {
        bundle = null;
        try
        {
            var reader = new Utf8JsonReader(payload);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "payload is not a JSON object";
                return false;
            }

            if (!root.TryGetProperty("v", out var v) || !v.TryGetInt32(out var version) || version != PeerBundle.FormatVersion)
            {
                error = $"v: expected {PeerBundle.FormatVersion}";
                return false;
            }

            var addresses = new List<InterfaceAddress>();
            foreach (var a in Array(root, "addresses"))
            {
                if (!InterfaceAddress.TryParse(a.GetString(), out var ia))
                {
                    error = $"addresses: '{a}' is not ADDRESS/LENGTH";
                    return false;
                }

                addresses.Add(ia);
            }

            var peers = new List<MeshPeer>();
            foreach (var p in Array(root, "peers"))
            {
                if (!WireGuardKey.TryParseBase64(p.GetProperty("publicKey").GetString(), out var key))
                {
                    error = "peers: publicKey is not a WireGuard key";
                    return false;
                }

                var allowed = new List<IPNetwork>();
                foreach (var n in Array(p, "allowedIps"))
                {
                    if (!IPNetwork.TryParse(n.GetString(), out var net))
                    {
                        error = $"peers: allowed IP '{n}' is not a prefix";
                        return false;
                    }

                    allowed.Add(net);
                }

                peers.Add(new MeshPeer
                {
                    Name = p.GetProperty("name").GetString() ?? "",
                    PublicKey = key,
                    AllowedIps = allowed,
                    Endpoint = p.GetProperty("endpoint").ValueKind == JsonValueKind.Null ? null : p.GetProperty("endpoint").GetString(),
                    PersistentKeepalive = p.GetProperty("keepalive").GetInt32(),
                });
            }

            var revoked = new List<byte[]>();
            foreach (var r in Array(root, "revoked"))
            {
                if (!WireGuardKey.TryParseBase64(r.GetString(), out var key))
                {
                    error = "revoked: entry is not a WireGuard key";
                    return false;
                }

                revoked.Add(key);
            }

            var listen = root.GetProperty("listenPort");
            bundle = new PeerBundle
            {
                NodeId = root.GetProperty("node").GetString() ?? "",
                Epoch = root.GetProperty("epoch").GetUInt64(),
                IssuedAt = DateTimeOffset.Parse(root.GetProperty("issued").GetString() ?? "", CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                KeyEpoch = root.GetProperty("keyEpoch").GetUInt32(),
                Addresses = addresses,
                ListenPort = listen.ValueKind == JsonValueKind.Null ? null : listen.GetInt32(),
                Peers = peers,
                Revoked = revoked,
            };
            error = null;
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            error = $"malformed bundle: {e.Message}";
            return false;
        }
    }

    private static JsonElement.ArrayEnumerator Array(JsonElement e, string name) => e.GetProperty(name).EnumerateArray();
}
