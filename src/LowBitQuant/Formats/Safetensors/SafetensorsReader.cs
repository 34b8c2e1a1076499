using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// Reads a safetensors file through a read-only memory map. <see cref="Open"/> validates the whole header
/// (formats/safetensors.md §3) before any tensor is exposed, so every span handed out lies inside a validated range.
/// </summary>
/// <remarks>
/// Spans returned by <see cref="GetTensorBytes"/> point into the map and stay valid until <see cref="Dispose"/>.
/// The file is opened with <see cref="FileShare.Read"/>; truncating it from outside while it is mapped is undefined.
/// </remarks>
public sealed unsafe class SafetensorsReader : IDisposable
{
    private readonly MappedFile _file;
    private readonly byte* _data;
    private bool _disposed;

    private SafetensorsReader(string path, MappedFile file, SafetensorsHeader header)
    {
        FilePath = path;
        _file = file;
        _data = file.Pointer + header.DataStart;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
    }

    /// <summary>The full path of the open file.</summary>
    public string FilePath { get; }

    /// <summary>Every tensor, enumerated in data-buffer order.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> map (string → string); empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens, maps and validates a safetensors file.</summary>
    /// <param name="path">The file to open.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidSafetensorsException">The file breaks a rule of the format; <see cref="InvalidSafetensorsException.Error"/> names it.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafetensorsReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new FileNotFoundException($"Safetensors file '{fullPath}' was not found.", fullPath);
        }

        RequireLittleEndian();
        FileStream? stream = null;
        MappedFile? file = null;
        try
        {
            // §3.1–3.2 are checked on the stream before mapping: an empty file cannot be mapped.
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
            long length = stream.Length;
            Span<byte> prefix = stackalloc byte[SafetensorsHeader.LengthPrefixSize];
            int read = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
            int headerLength = SafetensorsHeader.ReadLength(prefix[..read], length, fullPath);

            file = MappedFile.Map(stream);
            var header = SafetensorsHeader.Parse(new ReadOnlySpan<byte>(file.Pointer + SafetensorsHeader.LengthPrefixSize, headerLength), length, fullPath);
            return new SafetensorsReader(fullPath, file, header);
        }
        catch
        {
            file?.Dispose();
            stream?.Dispose();
            throw;
        }
    }

    /// <summary>The raw little-endian bytes of a tensor, straight from the map; valid until <see cref="Dispose"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor <paramref name="name"/>.</exception>
    /// <exception cref="NotSupportedException">The tensor is larger than a span can address (2 GiB).</exception>
    /// <exception cref="ObjectDisposedException">The reader is disposed.</exception>
    public ReadOnlySpan<byte> GetTensorBytes(string name) => Bytes(Find(name));

    /// <summary>Converts an F32, F16 or BF16 tensor to float32.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Receives <see cref="SafetensorsTensorInfo.ElementCount"/> values, row-major; may be longer.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor <paramref name="name"/>.</exception>
    /// <exception cref="NotSupportedException">The tensor's dtype is not F32, F16 or BF16.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the tensor.</exception>
    /// <exception cref="ObjectDisposedException">The reader is disposed.</exception>
    public void ReadAsSingle(string name, Span<float> destination)
    {
        SafetensorsTensorInfo info = Find(name);
        RequireFloat(info);
        if (destination.Length < info.ElementCount)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(destination), info.ElementCount, destination.Length);
        }

        ReadOnlySpan<byte> source = Bytes(info);
        destination = destination[..(int)info.ElementCount];
        switch (info.DType)
        {
            case SafetensorsDType.F32:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case SafetensorsDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            default:
                BFloat16Conversion.ToSingle(source, destination);
                break;
        }
    }

    /// <summary>Converts an F32, F16 or BF16 tensor to a new float32 array (row-major).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor <paramref name="name"/>.</exception>
    /// <exception cref="NotSupportedException">The tensor's dtype is not F32, F16 or BF16, or it is too large for an array.</exception>
    /// <exception cref="ObjectDisposedException">The reader is disposed.</exception>
    public float[] ReadAsSingle(string name)
    {
        SafetensorsTensorInfo info = Find(name);
        RequireFloat(info);
        float[] values = new float[ArrayLength(info)];
        ReadAsSingle(name, values);
        return values;
    }

    /// <summary>
    /// Copies a tensor whose dtype stores exactly <typeparamref name="T"/>: BOOL ↔ <see cref="bool"/>, U8/I8 ↔ byte/sbyte,
    /// I16/U16/F16 ↔ short/ushort/<see cref="Half"/>, I32/U32/F32 ↔ int/uint/float, I64/U64/F64 ↔ long/ulong/double.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="destination">Receives <see cref="SafetensorsTensorInfo.ElementCount"/> values, row-major; may be longer.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor <paramref name="name"/>.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not one of the types above.</exception>
    /// <exception cref="InvalidOperationException">The tensor's dtype does not store <typeparamref name="T"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the tensor.</exception>
    /// <exception cref="ObjectDisposedException">The reader is disposed.</exception>
    public void Read<T>(string name, Span<T> destination)
        where T : unmanaged
    {
        SafetensorsTensorInfo info = Find(name);
        RequireElementType<T>(info);
        if (destination.Length < info.ElementCount)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(destination), info.ElementCount, destination.Length);
        }

        ReadOnlySpan<byte> source = Bytes(info);
        if (typeof(T) == typeof(bool))
        {
            // Any non-zero byte is true; never reinterpret bytes other than 0 and 1 as bool.
            Span<bool> flags = MemoryMarshal.Cast<T, bool>(destination);
            for (int i = 0; i < source.Length; i++)
            {
                flags[i] = source[i] != 0;
            }
        }
        else
        {
            source.CopyTo(MemoryMarshal.AsBytes(destination));
        }
    }

    /// <summary>Copies a tensor into a new array; the type rules are those of <see cref="Read{T}(string, Span{T})"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="KeyNotFoundException">The file has no tensor <paramref name="name"/>.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not supported, or the tensor is too large for an array.</exception>
    /// <exception cref="InvalidOperationException">The tensor's dtype does not store <typeparamref name="T"/>.</exception>
    /// <exception cref="ObjectDisposedException">The reader is disposed.</exception>
    public T[] Read<T>(string name)
        where T : unmanaged
    {
        SafetensorsTensorInfo info = Find(name);
        RequireElementType<T>(info);
        T[] values = new T[ArrayLength(info)];
        Read<T>(name, values);
        return values;
    }

    /// <summary>Unmaps the file. Spans obtained earlier become invalid. Calling it again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _file.Dispose();
    }

    internal static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Safetensors I/O needs a little-endian platform.");
        }
    }

    private SafetensorsTensorInfo Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Tensors.TryGetValue(name, out SafetensorsTensorInfo? info)
            ? info
            : throw new KeyNotFoundException($"Safetensors file '{FilePath}' has no tensor '{name}'.");
    }

    private ReadOnlySpan<byte> Bytes(SafetensorsTensorInfo info)
    {
        if (info.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{info.Name}' in '{FilePath}' holds {info.ByteLength} bytes, more than a span can address.");
        }

        return new ReadOnlySpan<byte>(_data + info.DataBegin, (int)info.ByteLength);
    }

    private int ArrayLength(SafetensorsTensorInfo info) =>
        info.ElementCount <= Array.MaxLength
            ? (int)info.ElementCount
            : throw new NotSupportedException($"Tensor '{info.Name}' in '{FilePath}' has {info.ElementCount} elements, more than an array holds.");

    private void RequireFloat(SafetensorsTensorInfo info)
    {
        if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
        {
            throw new NotSupportedException(
                $"Tensor '{info.Name}' in '{FilePath}' has dtype {info.DType.GetName()}; only F32, F16 and BF16 convert to float.");
        }
    }

    private void RequireElementType<T>(SafetensorsTensorInfo info)
        where T : unmanaged
    {
        SafetensorsDType expected = SafetensorsElementType<T>.DType
            ?? throw new NotSupportedException($"{typeof(T).Name} is not a safetensors element type.");
        if (info.DType != expected)
        {
            throw new InvalidOperationException(
                $"Tensor '{info.Name}' in '{FilePath}' has dtype {info.DType.GetName()}; reading it as {typeof(T).Name} needs {expected.GetName()}.");
        }
    }
}
