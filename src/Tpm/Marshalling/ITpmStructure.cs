namespace Kldload.Tpm.Marshalling;

/// <summary>
/// A TPM 2.0 structure with an explicit, reflection-free marshalling (safe for NativeAOT).
/// </summary>
/// <typeparam name="TSelf">The implementing type.</typeparam>
public interface ITpmStructure<TSelf> where TSelf : ITpmStructure<TSelf>
{
    /// <summary>Reads one value; on failure the reader is failed and the value is undefined.</summary>
    static abstract bool TryRead(ref TpmReader reader, out TSelf value);

    /// <summary>Writes the value; an overflow is reported by the writer.</summary>
    void Write(ref TpmWriter writer);
}

/// <summary>Whole-buffer entry points for <see cref="ITpmStructure{TSelf}"/> types.</summary>
public static class TpmMarshal
{
    /// <summary>Upper bound for a single structure or command (TPM_PT_MAX_COMMAND_SIZE on PC Client TPMs is 4096).</summary>
    public const int MaxStructureSize = 8192;

    /// <summary>Reads a structure that must fill <paramref name="bytes"/> exactly.</summary>
    public static bool TryRead<T>(ReadOnlySpan<byte> bytes, out T value, out string? error) where T : ITpmStructure<T>
    {
        var reader = new TpmReader(bytes);
        if (T.TryRead(ref reader, out value))
        {
            reader.ExpectEnd(typeof(T).Name);
        }

        error = reader.Error;
        return error is null;
    }

    /// <summary>Reads a structure, throwing <see cref="Errors.TpmFormatException"/> on malformed input.</summary>
    public static T Read<T>(ReadOnlySpan<byte> bytes) where T : ITpmStructure<T> =>
        TryRead<T>(bytes, out var value, out var error) ? value : throw new Errors.TpmFormatException(typeof(T).Name, error!);

    /// <summary>Writes into <paramref name="destination"/>; false if it does not fit.</summary>
    public static bool TryWrite<T>(T value, Span<byte> destination, out int written) where T : ITpmStructure<T>
    {
        var writer = new TpmWriter(destination);
        value.Write(ref writer);
        written = writer.Overflowed ? 0 : writer.Position;
        return !writer.Overflowed;
    }

    /// <summary>Marshals to a new array.</summary>
    public static byte[] ToBytes<T>(T value) where T : ITpmStructure<T>
    {
        Span<byte> buffer = stackalloc byte[MaxStructureSize];
        return TryWrite(value, buffer, out var written)
            ? buffer[..written].ToArray()
            : throw new InvalidOperationException($"{typeof(T).Name} does not fit in {MaxStructureSize} bytes");
    }
}
