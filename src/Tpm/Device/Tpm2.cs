using System.Security.Cryptography;
using Kldload.Tpm.Errors;
using Kldload.Tpm.Marshalling;
using Kldload.Tpm.Structures;
using Kldload.Tpm.Transport;

namespace Kldload.Tpm.Device;

/// <summary>A transient object created or loaded by the TPM: its handle, public area and Name.</summary>
public sealed record TpmObject(uint Handle, TpmtPublic Public, byte[] Name);

/// <summary>The result of TPM2_Create: the private blob (TPM2B_PRIVATE content) and the public area.</summary>
public sealed record TpmCreatedObject(byte[] Private, TpmtPublic Public);

/// <summary>The result of TPM2_Quote: the signed TPMS_ATTEST bytes, parsed, and the signature.</summary>
public sealed record TpmQuote(byte[] AttestBytes, TpmsAttest Attest, TpmtSignature Signature);

/// <summary>
/// The TPM 2.0 commands kldload needs (TPM 2.0 Part 3), each marshalled by hand over an
/// <see cref="ITpmTransport"/>. Transient warnings (TPM_RC_RETRY, YIELDED, TESTING) are retried;
/// any other error becomes a <see cref="TpmException"/> carrying the decoded response code.
/// Commands that create handles leave their release to the caller; the helpers in this namespace
/// flush on success and failure.
/// </summary>
public sealed class Tpm2 : IDisposable
{
    /// <summary>Sends per command before giving up on a transient warning.</summary>
    public const int MaxAttempts = 20;

    private const int CommandBufferSize = 4096;
    private const uint PtNvBufferMax = 0x0000012C;
    private const uint PtInputBuffer = 0x0000010D;

    private readonly ITpmTransport _transport;
    private readonly TimeProvider _time;
    private readonly bool _ownsTransport;

    public Tpm2(ITpmTransport transport, TimeProvider? time = null, bool ownsTransport = true)
    {
        _transport = transport;
        _time = time ?? TimeProvider.System;
        _ownsTransport = ownsTransport;
    }

    /// <summary>Transient warnings answered by resending (a counter for tests and logs).</summary>
    public int Retries { get; private set; }

    public ITpmTransport Transport => _transport;

    public void Dispose()
    {
        if (_ownsTransport)
        {
            _transport.Dispose();
        }
    }

    // ---------------------------------------------------------------- framing

    /// <summary>
    /// Builds, sends and checks one command (TPM 2.0 Part 1, clause 18.7 and 18.9).
    /// <code>
    /// command:  tag u16 (8001|8002) | commandSize u32 | commandCode u32 | handles u32[] | [authSize u32 | TPMS_AUTH_COMMAND[]] | parameters
    /// response: tag u16 | responseSize u32 | responseCode u32 | handles u32[] | [parameterSize u32] | parameters | [TPMS_AUTH_RESPONSE[]]
    /// </code>
    /// </summary>
    private byte[] Execute(TpmCommandCode code, ReadOnlySpan<uint> handles, ReadOnlySpan<TpmAuth> auths, ReadOnlySpan<byte> parameters, Span<uint> responseHandles)
    {
        var buffer = new byte[CommandBufferSize];
        var w = new TpmWriter(buffer);
        w.WriteUInt16((ushort)(auths.IsEmpty ? TpmSt.NoSessions : TpmSt.Sessions));
        var sizeAt = w.BeginSize32();
        w.WriteUInt32((uint)code);
        foreach (var h in handles)
        {
            w.WriteUInt32(h);
        }

        if (!auths.IsEmpty)
        {
            var authAt = w.BeginSize32();
            foreach (var a in auths)
            {
                a.Write(ref w);
            }

            w.EndSize32(authAt);
        }

        w.WriteBytes(parameters);
        w.PatchUInt32(sizeAt, (uint)w.Position);
        if (w.Overflowed)
        {
            throw new ArgumentException($"TPM2_{code} command exceeds {CommandBufferSize} bytes");
        }

        var command = buffer.AsSpan(0, w.Position);
        for (var attempt = 1; ; attempt++)
        {
            var response = _transport.Transact(command);
            var r = new TpmReader(response);
            var tag = (TpmSt)r.ReadUInt16("response tag");
            var size = r.ReadUInt32("responseSize");
            var rc = new TpmResponseCode(r.ReadUInt32("responseCode"));
            if (r.Failed || size != response.Length)
            {
                throw new TpmFormatException($"TPM2_{code} response", r.Error ?? $"responseSize {size} but {response.Length} bytes");
            }

            if (rc.IsTransient && attempt < MaxAttempts)
            {
                Retries++;
                Sleep(TimeSpan.FromMilliseconds(Math.Min(10 * attempt, 200)));
                continue;
            }

            if (!rc.IsSuccess)
            {
                throw new TpmException(code, rc);
            }

            for (var i = 0; i < responseHandles.Length; i++)
            {
                responseHandles[i] = r.ReadUInt32("response handle");
            }

            ReadOnlySpan<byte> result;
            if (tag == TpmSt.Sessions)
            {
                var paramSize = r.ReadUInt32("parameterSize");
                result = r.ReadBytes((int)Math.Min(paramSize, int.MaxValue), "response parameters");
            }
            else
            {
                result = r.ReadRemaining();
            }

            return r.Failed ? throw new TpmFormatException($"TPM2_{code} response", r.Error!) : result.ToArray();
        }
    }

    private void Sleep(TimeSpan delay)
    {
        using var done = new ManualResetEventSlim();
        using var timer = _time.CreateTimer(_ => done.Set(), null, delay, Timeout.InfiniteTimeSpan);
        done.Wait(TimeSpan.FromSeconds(5));
    }

    private static T Parse<T>(TpmCommandCode code, byte[] parameters, ParseBody<T> body)
    {
        var r = new TpmReader(parameters);
        var value = body(ref r);
        return r.Failed ? throw new TpmFormatException($"TPM2_{code} response", r.Error!) : value;
    }

    private delegate T ParseBody<T>(ref TpmReader reader);

    private static TpmtPublic ReadPublic(ref TpmReader r)
    {
        Tpm2bPublic.TryRead(ref r, out var pub);
        return pub.Public;
    }

    // ---------------------------------------------------------------- commands

    /// <summary>TPM2_Startup (Part 3, 9.3). Returns false when the TPM was already started (TPM_RC_INITIALIZE).</summary>
    public bool Startup(TpmStartupType type = TpmStartupType.Clear)
    {
        Span<byte> p = stackalloc byte[2];
        var w = new TpmWriter(p);
        w.WriteUInt16((ushort)type);
        try
        {
            Execute(TpmCommandCode.Startup, [], [], p, []);
            return true;
        }
        catch (TpmException e) when (e.Code.BaseCode == 0x100)
        {
            return false;
        }
    }

    /// <summary>TPM2_GetRandom (Part 3, 16.1), looping because a TPM returns at most one digest per call.</summary>
    public byte[] GetRandom(int count)
    {
        var result = new byte[count];
        var filled = 0;
        Span<byte> p = stackalloc byte[2];
        while (filled < count)
        {
            var w = new TpmWriter(p);
            w.WriteUInt16((ushort)Math.Min(count - filled, 32));
            var rsp = Execute(TpmCommandCode.GetRandom, [], [], p, []);
            var bytes = Parse(TpmCommandCode.GetRandom, rsp, (ref TpmReader r) => r.ReadSizedArray("randomBytes"));
            if (bytes.Length == 0)
            {
                throw new TpmFormatException("TPM2_GetRandom response", "no bytes returned");
            }

            var take = Math.Min(bytes.Length, count - filled);
            bytes.AsSpan(0, take).CopyTo(result.AsSpan(filled));
            filled += take;
        }

        return result;
    }

    /// <summary>TPM2_GetCapability (Part 3, 30.2): moreData and the raw TPMS_CAPABILITY_DATA (capability u32 | union).</summary>
    public (bool MoreData, byte[] Data) GetCapability(TpmCapability capability, uint property, uint count)
    {
        Span<byte> p = stackalloc byte[12];
        var w = new TpmWriter(p);
        w.WriteUInt32((uint)capability);
        w.WriteUInt32(property);
        w.WriteUInt32(count);
        var rsp = Execute(TpmCommandCode.GetCapability, [], [], p, []);
        return rsp.Length < 5 ? throw new TpmFormatException("TPM2_GetCapability response", "truncated") : (rsp[0] != 0, rsp[1..]);
    }

    /// <summary>One TPM_PT property value (TPM_CAP_TPM_PROPERTIES), or null if the TPM does not report it.</summary>
    public uint? GetTpmProperty(uint property)
    {
        var (_, data) = GetCapability(TpmCapability.TpmProperties, property, 1);
        return Parse(TpmCommandCode.GetCapability, data, (ref TpmReader r) =>
        {
            r.ReadUInt32("capability");
            var n = r.ReadUInt32("TPML_TAGGED_TPM_PROPERTY.count");
            for (var i = 0; i < n && !r.Failed; i++)
            {
                var prop = r.ReadUInt32("property");
                var value = r.ReadUInt32("value");
                if (prop == property)
                {
                    return (uint?)value;
                }
            }

            return null;
        });
    }

    /// <summary>The PCR banks the TPM has allocated (TPM_CAP_PCRS); banks with an empty bitmap are inactive.</summary>
    public TpmlPcrSelection GetPcrBanks()
    {
        var (_, data) = GetCapability(TpmCapability.Pcrs, 0, 1);
        return Parse(TpmCommandCode.GetCapability, data, (ref TpmReader r) =>
        {
            r.ReadUInt32("capability");
            TpmlPcrSelection.TryRead(ref r, out var banks);
            return banks;
        });
    }

    /// <summary>Handles currently in use from <paramref name="first"/> on (TPM_CAP_HANDLES), following moreData.</summary>
    public IReadOnlyList<uint> GetHandles(uint first)
    {
        var list = new List<uint>();
        var next = first;
        while (true)
        {
            var (more, data) = GetCapability(TpmCapability.Handles, next, 64);
            var page = Parse(TpmCommandCode.GetCapability, data, (ref TpmReader r) =>
            {
                r.ReadUInt32("capability");
                var n = r.ReadUInt32("TPML_HANDLE.count");
                var handles = new List<uint>();
                for (var i = 0; i < n && !r.Failed; i++)
                {
                    handles.Add(r.ReadUInt32("handle"));
                }

                return handles;
            });
            list.AddRange(page.Where(h => (h >> 24) == (first >> 24)));
            if (!more || page.Count == 0 || (page[^1] >> 24) != (first >> 24))
            {
                return list;
            }

            next = page[^1] + 1;
        }
    }

    /// <summary>
    /// TPM2_PCR_Read (Part 3, 22.4). A TPM returns at most eight digests per call, so this sends the
    /// remaining selection again until every selected PCR has a value. Inactive banks yield no values.
    /// </summary>
    public IReadOnlyDictionary<(TpmAlgId Hash, int Pcr), byte[]> PcrRead(TpmlPcrSelection selection)
    {
        var values = new Dictionary<(TpmAlgId, int), byte[]>();
        var pending = selection.Enumerate().ToList();
        var p = new byte[256];
        while (pending.Count > 0)
        {
            var request = new TpmlPcrSelection(pending.GroupBy(p => p.Hash)
                .Select(g => TpmsPcrSelection.Create(g.Key, [.. g.Select(p => p.Pcr)])).ToList());
            var w = new TpmWriter(p);
            request.Write(ref w);
            var rsp = Execute(TpmCommandCode.PcrRead, [], [], w.Written, []);
            var (returned, digests) = Parse(TpmCommandCode.PcrRead, rsp, (ref TpmReader r) =>
            {
                r.ReadUInt32("pcrUpdateCounter");
                TpmlPcrSelection.TryRead(ref r, out var sel);
                var n = r.ReadUInt32("TPML_DIGEST.count");
                var list = new List<byte[]>();
                for (var i = 0; i < n && !r.Failed; i++)
                {
                    list.Add(r.ReadSizedArray("TPM2B_DIGEST", 64));
                }

                return (sel, list);
            });
            var slots = returned.Enumerate().ToList();
            if (slots.Count != digests.Count)
            {
                throw new TpmFormatException("TPM2_PCR_Read response", $"{slots.Count} PCRs selected but {digests.Count} digests");
            }

            if (slots.Count == 0)
            {
                break; // the rest is in inactive banks
            }

            for (var i = 0; i < slots.Count; i++)
            {
                values[slots[i]] = digests[i];
            }

            pending.RemoveAll(values.ContainsKey);
        }

        return values;
    }

    /// <summary>TPM2_ReadPublic (Part 3, 12.4).</summary>
    public TpmObject ReadPublic(uint handle)
    {
        var rsp = Execute(TpmCommandCode.ReadPublic, [handle], [], [], []);
        return Parse(TpmCommandCode.ReadPublic, rsp, (ref TpmReader r) =>
        {
            var pub = ReadPublic(ref r);
            var name = r.ReadSizedArray("name");
            r.ReadSizedArray("qualifiedName");
            return new TpmObject(handle, pub, name);
        });
    }

    /// <summary>
    /// TPM2_CreatePrimary (Part 3, 24.1) with an empty userAuth and optional sensitive data.
    /// </summary>
    public TpmObject CreatePrimary(uint hierarchy, TpmtPublic template, TpmAuth? hierarchyAuth = null, ReadOnlySpan<byte> sensitiveData = default)
    {
        var p = new byte[CommandBufferSize];
        var w = new TpmWriter(p);
        WriteSensitiveCreate(ref w, sensitiveData);
        new Tpm2bPublic(template).Write(ref w);
        w.WriteSized([]); // outsideInfo
        TpmlPcrSelection.Empty.Write(ref w); // creationPCR
        Span<uint> handle = stackalloc uint[1];
        var rsp = Execute(TpmCommandCode.CreatePrimary, [hierarchy], [hierarchyAuth ?? TpmAuth.EmptyPassword], w.Written, handle);
        var h = handle[0];
        return Parse(TpmCommandCode.CreatePrimary, rsp, (ref TpmReader r) =>
        {
            var pub = ReadPublic(ref r);
            r.ReadSized("creationData");
            r.ReadSized("creationHash");
            r.ReadUInt16("creationTicket.tag");
            r.ReadUInt32("creationTicket.hierarchy");
            r.ReadSized("creationTicket.digest");
            var name = r.ReadSizedArray("name");
            return new TpmObject(h, pub, name);
        });
    }

    /// <summary>TPM2_Create (Part 3, 12.1): an ordinary object under <paramref name="parent"/>.</summary>
    public TpmCreatedObject Create(uint parent, TpmtPublic template, TpmAuth parentAuth, ReadOnlySpan<byte> sensitiveData = default)
    {
        var p = new byte[CommandBufferSize];
        var w = new TpmWriter(p);
        WriteSensitiveCreate(ref w, sensitiveData);
        new Tpm2bPublic(template).Write(ref w);
        w.WriteSized([]);
        TpmlPcrSelection.Empty.Write(ref w);
        var rsp = Execute(TpmCommandCode.Create, [parent], [parentAuth], w.Written, []);
        return Parse(TpmCommandCode.Create, rsp, (ref TpmReader r) =>
        {
            var priv = r.ReadSizedArray("outPrivate");
            var pub = ReadPublic(ref r);
            return new TpmCreatedObject(priv, pub);
        });
    }

    /// <summary>TPM2_Load (Part 3, 12.2).</summary>
    public TpmObject Load(uint parent, TpmCreatedObject obj, TpmAuth parentAuth)
    {
        var p = new byte[CommandBufferSize];
        var w = new TpmWriter(p);
        w.WriteSized(obj.Private);
        new Tpm2bPublic(obj.Public).Write(ref w);
        Span<uint> handle = stackalloc uint[1];
        var rsp = Execute(TpmCommandCode.Load, [parent], [parentAuth], w.Written, handle);
        var h = handle[0];
        var name = Parse(TpmCommandCode.Load, rsp, (ref TpmReader r) => r.ReadSizedArray("name"));
        return new TpmObject(h, obj.Public, name);
    }

    /// <summary>TPM2_FlushContext (Part 3, 28.4); the handle is a parameter, not a handle.</summary>
    public void FlushContext(uint handle)
    {
        Span<byte> p = stackalloc byte[4];
        var w = new TpmWriter(p);
        w.WriteUInt32(handle);
        Execute(TpmCommandCode.FlushContext, [], [], p, []);
    }

    /// <summary>Flushes and swallows errors: for cleanup paths where the first error must win.</summary>
    public void TryFlushContext(uint handle)
    {
        try
        {
            FlushContext(handle);
        }
        catch (Exception e) when (e is TpmException or TpmTransportException or TpmFormatException)
        {
            // The handle may already be gone (a consumed policy session); nothing else to do.
        }
    }

    /// <summary>
    /// TPM2_StartAuthSession (Part 3, 11.1): an unbound, unsalted session (tpmKey = bind = TPM_RH_NULL,
    /// symmetric NULL) of the given type with a fresh caller nonce.
    /// </summary>
    public uint StartAuthSession(TpmSessionType type, TpmAlgId hash = TpmAlgId.Sha256)
    {
        Span<byte> p = stackalloc byte[64];
        var w = new TpmWriter(p);
        w.WriteSized(RandomNumberGenerator.GetBytes(TpmHash.DigestSize(hash)));
        w.WriteSized([]); // encryptedSalt
        w.WriteByte((byte)type);
        TpmtSymDefObject.Null.Write(ref w);
        w.WriteUInt16((ushort)hash);
        Span<uint> handle = stackalloc uint[1];
        Execute(TpmCommandCode.StartAuthSession, [TpmHandles.Null, TpmHandles.Null], [], w.Written, handle);
        return handle[0];
    }

    /// <summary>TPM2_PolicySecret (Part 3, 23.4) with no expiration, cpHash or policyRef.</summary>
    public void PolicySecret(uint authHandle, uint session, TpmAuth? auth = null)
    {
        Span<byte> p = stackalloc byte[16];
        var w = new TpmWriter(p);
        w.WriteSized([]); // nonceTPM
        w.WriteSized([]); // cpHashA
        w.WriteSized([]); // policyRef
        w.WriteUInt32(0); // expiration
        Execute(TpmCommandCode.PolicySecret, [authHandle, session], [auth ?? TpmAuth.EmptyPassword], w.Written, []);
    }

    /// <summary>TPM2_PolicyPCR (Part 3, 23.7); an empty <paramref name="pcrDigest"/> binds to the current values.</summary>
    public void PolicyPcr(uint session, TpmlPcrSelection pcrs, ReadOnlySpan<byte> pcrDigest = default)
    {
        Span<byte> p = stackalloc byte[256];
        var w = new TpmWriter(p);
        w.WriteSized(pcrDigest);
        pcrs.Write(ref w);
        Execute(TpmCommandCode.PolicyPcr, [session], [], w.Written, []);
    }

    /// <summary>TPM2_PolicyOR (Part 3, 23.6).</summary>
    public void PolicyOr(uint session, IReadOnlyList<byte[]> digests)
    {
        Span<byte> p = stackalloc byte[1024];
        var w = new TpmWriter(p);
        w.WriteUInt32((uint)digests.Count);
        foreach (var d in digests)
        {
            w.WriteSized(d);
        }

        Execute(TpmCommandCode.PolicyOr, [session], [], w.Written, []);
    }

    /// <summary>TPM2_PolicyGetDigest (Part 3, 23.19).</summary>
    public byte[] PolicyGetDigest(uint session)
    {
        var rsp = Execute(TpmCommandCode.PolicyGetDigest, [session], [], [], []);
        return Parse(TpmCommandCode.PolicyGetDigest, rsp, (ref TpmReader r) => r.ReadSizedArray("policyDigest"));
    }

    /// <summary>
    /// TPM2_ActivateCredential (Part 3, 12.5): the AK (activateHandle, ADMIN role) and the EK (keyHandle,
    /// USER role) each need an authorization. Returns the credential (certInfo).
    /// </summary>
    public byte[] ActivateCredential(uint activateHandle, uint keyHandle, Tpm2bIdObject credentialBlob, Tpm2bEncryptedSecret secret, TpmAuth activateAuth, TpmAuth keyAuth)
    {
        var p = new byte[CommandBufferSize];
        var w = new TpmWriter(p);
        credentialBlob.Write(ref w);
        secret.Write(ref w);
        var rsp = Execute(TpmCommandCode.ActivateCredential, [activateHandle, keyHandle], [activateAuth, keyAuth], w.Written, []);
        return Parse(TpmCommandCode.ActivateCredential, rsp, (ref TpmReader r) => r.ReadSizedArray("certInfo"));
    }

    /// <summary>TPM2_Quote (Part 3, 18.4) with the key's own scheme (inScheme = TPM_ALG_NULL).</summary>
    public TpmQuote Quote(uint signHandle, ReadOnlySpan<byte> qualifyingData, TpmlPcrSelection pcrs, TpmAuth? auth = null)
    {
        Span<byte> p = stackalloc byte[512];
        var w = new TpmWriter(p);
        w.WriteSized(qualifyingData);
        TpmtScheme.Null.Write(ref w);
        pcrs.Write(ref w);
        var rsp = Execute(TpmCommandCode.Quote, [signHandle], [auth ?? TpmAuth.EmptyPassword], w.Written, []);
        return Parse(TpmCommandCode.Quote, rsp, (ref TpmReader r) =>
        {
            var attestBytes = r.ReadSizedArray("quoted");
            TpmtSignature.TryRead(ref r, out var sig);
            if (r.Failed)
            {
                return null!;
            }

            var inner = new TpmReader(attestBytes);
            if (!TpmsAttest.TryRead(ref inner, out var attest))
            {
                r.Fail("quoted: " + inner.Error);
                return null!;
            }

            return new TpmQuote(attestBytes, attest, sig);
        });
    }

    /// <summary>TPM2_HMAC (Part 3, 15.5): at most TPM_PT_INPUT_BUFFER (1024 on PC Client TPMs) bytes of data.</summary>
    public byte[] Hmac(uint handle, ReadOnlySpan<byte> data, TpmAlgId hash = TpmAlgId.Sha256, TpmAuth? auth = null)
    {
        if (data.Length > 1024)
        {
            throw new ArgumentException("TPM2_HMAC takes at most 1024 bytes", nameof(data));
        }

        var p = new byte[data.Length + 8];
        var w = new TpmWriter(p);
        w.WriteSized(data);
        w.WriteUInt16((ushort)hash);
        var rsp = Execute(TpmCommandCode.Hmac, [handle], [auth ?? TpmAuth.EmptyPassword], w.Written, []);
        return Parse(TpmCommandCode.Hmac, rsp, (ref TpmReader r) => r.ReadSizedArray("outHMAC"));
    }

    /// <summary>TPM2_NV_ReadPublic (Part 3, 31.6).</summary>
    public (TpmsNvPublic Public, byte[] Name) NvReadPublic(uint nvIndex)
    {
        var rsp = Execute(TpmCommandCode.NvReadPublic, [nvIndex], [], [], []);
        return Parse(TpmCommandCode.NvReadPublic, rsp, (ref TpmReader r) =>
        {
            var content = r.ReadSized("nvPublic");
            var inner = new TpmReader(content);
            TpmsNvPublic.TryRead(ref inner, out var pub);
            if (inner.Failed)
            {
                r.Fail("nvPublic: " + inner.Error);
            }

            return (pub, r.ReadSizedArray("nvName"));
        });
    }

    /// <summary>
    /// Reads a whole NV index with TPM2_NV_Read (Part 3, 31.13) in chunks of TPM_PT_NV_BUFFER_MAX,
    /// authorizing with <paramref name="authHandle"/> (the index itself, or the owner for EK certificates).
    /// </summary>
    public byte[] NvRead(uint nvIndex, uint? authHandle = null, TpmAuth? auth = null)
    {
        var (pub, _) = NvReadPublic(nvIndex);
        var chunk = (int)(GetTpmProperty(PtNvBufferMax) ?? 512);
        chunk = Math.Clamp(chunk, 64, 1024);
        var result = new byte[pub.DataSize];
        Span<byte> p = stackalloc byte[4];
        for (var offset = 0; offset < result.Length; offset += chunk)
        {
            var size = Math.Min(chunk, result.Length - offset);
            var w = new TpmWriter(p);
            w.WriteUInt16((ushort)size);
            w.WriteUInt16((ushort)offset);
            var rsp = Execute(TpmCommandCode.NvRead, [authHandle ?? nvIndex, nvIndex], [auth ?? TpmAuth.EmptyPassword], p, []);
            var data = Parse(TpmCommandCode.NvRead, rsp, (ref TpmReader r) => r.ReadSizedArray("data"));
            if (data.Length != size)
            {
                throw new TpmFormatException("TPM2_NV_Read response", $"asked for {size} bytes, got {data.Length}");
            }

            data.CopyTo(result, offset);
        }

        return result;
    }

    /// <summary>
    /// TPM2_NV_DefineSpace (Part 3, 31.3): defines <paramref name="publicInfo"/> under <paramref name="authHandle"/>
    /// (TPM_RH_OWNER or TPM_RH_PLATFORM), with <paramref name="indexAuth"/> as the index's own authValue.
    /// <code>
    /// handles: authHandle | parameters: auth TPM2B_AUTH | publicInfo TPM2B_NV_PUBLIC (size u16 | TPMS_NV_PUBLIC)
    /// </code>
    /// Fails with TPM_RC_NV_DEFINED when the index exists.
    /// </summary>
    public void NvDefineSpace(uint authHandle, TpmsNvPublic publicInfo, ReadOnlySpan<byte> indexAuth = default, TpmAuth? auth = null)
    {
        ArgumentNullException.ThrowIfNull(publicInfo);
        var p = new byte[2 + indexAuth.Length + 2 + 14 + publicInfo.AuthPolicy.Length];
        var w = new TpmWriter(p);
        w.WriteSized(indexAuth);
        var at = w.BeginSize16();
        publicInfo.Write(ref w);
        w.EndSize16(at);
        Execute(TpmCommandCode.NvDefineSpace, [authHandle], [auth ?? TpmAuth.EmptyPassword], w.Written, []);
    }

    /// <summary>
    /// TPM2_NV_UndefineSpace (Part 3, 31.4): removes <paramref name="nvIndex"/>, authorized by the hierarchy
    /// that defined it. Indices with TPMA_NV_POLICY_DELETE need TPM2_NV_UndefineSpaceSpecial instead.
    /// </summary>
    public void NvUndefineSpace(uint authHandle, uint nvIndex, TpmAuth? auth = null) =>
        Execute(TpmCommandCode.NvUndefineSpace, [authHandle, nvIndex], [auth ?? TpmAuth.EmptyPassword], [], []);

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/> with TPM2_NV_Write (Part 3, 31.9), in chunks of
    /// TPM_PT_NV_BUFFER_MAX, authorizing with <paramref name="authHandle"/> (the index itself, or the owner
    /// for a TPMA_NV_OWNERWRITE index).
    /// <code>
    /// handles: authHandle | nvIndex | parameters: data TPM2B_MAX_NV_BUFFER | offset u16
    /// </code>
    /// </summary>
    public void NvWrite(uint nvIndex, ReadOnlySpan<byte> data, ushort offset = 0, uint? authHandle = null, TpmAuth? auth = null)
    {
        var chunk = Math.Clamp((int)(GetTpmProperty(PtNvBufferMax) ?? 512), 64, 1024);
        var p = new byte[2 + chunk + 2];
        var done = 0;
        do
        {
            var size = Math.Min(chunk, data.Length - done);
            var w = new TpmWriter(p);
            w.WriteSized(data.Slice(done, size));
            w.WriteUInt16((ushort)(offset + done));
            Execute(TpmCommandCode.NvWrite, [authHandle ?? nvIndex, nvIndex], [auth ?? TpmAuth.EmptyPassword], w.Written, []);
            done += size;
        }
        while (done < data.Length);
    }

    /// <summary>TPM2_Unseal (Part 3, 12.7).</summary>
    public byte[] Unseal(uint handle, TpmAuth auth)
    {
        var rsp = Execute(TpmCommandCode.Unseal, [handle], [auth], [], []);
        return Parse(TpmCommandCode.Unseal, rsp, (ref TpmReader r) => r.ReadSizedArray("outData"));
    }

    /// <summary>TPM2_EvictControl (Part 3, 28.5): persist a transient object, or evict a persistent one.</summary>
    public void EvictControl(uint auth, uint objectHandle, uint persistentHandle, TpmAuth? authorization = null)
    {
        Span<byte> p = stackalloc byte[4];
        var w = new TpmWriter(p);
        w.WriteUInt32(persistentHandle);
        Execute(TpmCommandCode.EvictControl, [auth, objectHandle], [authorization ?? TpmAuth.EmptyPassword], p, []);
    }

    /// <summary>TPM_PT_INPUT_BUFFER: the largest TPM2B_MAX_BUFFER the TPM takes.</summary>
    public int InputBufferMax() => (int)(GetTpmProperty(PtInputBuffer) ?? 1024);

    /// <summary>TPM2B_SENSITIVE_CREATE: <c>size u16 | userAuth TPM2B (empty) | data TPM2B</c>.</summary>
    private static void WriteSensitiveCreate(ref TpmWriter w, ReadOnlySpan<byte> data)
    {
        var at = w.BeginSize16();
        w.WriteSized([]);
        w.WriteSized(data);
        w.EndSize16(at);
    }
}
