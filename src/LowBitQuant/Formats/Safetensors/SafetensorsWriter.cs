using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// Collects tensors and writes them as one safetensors file, deterministically and atomically
/// (formats/safetensors.md §4).
/// </summary>
/// <remarks>
/// <see cref="Save"/> orders tensors by descending dtype alignment, then by ordinal name; writes a compact JSON header
/// with <c>__metadata__</c> first (always holding <c>"format": "pt"</c>), padded with spaces to a multiple of 8 bytes, so
/// every tensor starts at an offset aligned to its element size. The same tensors and metadata give byte-identical files,
/// whatever order they were added in. The file is written to a temporary file in the same folder and renamed over
/// <see cref="FilePath"/>: on failure or cancellation no partial file is left and an existing file is untouched.
/// </remarks>
public sealed class SafetensorsWriter : IDisposable
{
    private const string FormatKey = "format";
    private const string FormatValue = "pt";
    private const int WriteChunkBytes = 1 << 20;

    private readonly KeyValuePair<string, string>[] _metadata;
    private readonly Dictionary<string, Pending> _tensors = new(StringComparer.Ordinal);
    private bool _disposed;

    private SafetensorsWriter(string path, KeyValuePair<string, string>[] metadata)
    {
        FilePath = path;
        _metadata = metadata;
    }

    /// <summary>The full path of the file <see cref="Save"/> writes.</summary>
    public string FilePath { get; }

    /// <summary>Largest header <see cref="Save"/> writes; lowered by tests only.</summary>
    internal int MaxHeaderLength { get; set; } = SafetensorsHeader.MaxLength;

    /// <summary>Starts a writer for <paramref name="path"/>; nothing is written until <see cref="Save"/>.</summary>
    /// <param name="path">The file to write; its folder must exist when <see cref="Save"/> runs.</param>
    /// <param name="metadata">
    /// String entries for <c>__metadata__</c>. <c>"format": "pt"</c> is always written; a different <c>format</c> value is refused.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty, or <paramref name="metadata"/> holds a null value,
    /// invalid UTF-16 or a <c>format</c> other than <c>"pt"</c>.</exception>
    public static SafetensorsWriter Create(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafetensorsReader.RequireLittleEndian();
        var entries = new List<KeyValuePair<string, string>> { new(FormatKey, FormatValue) };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            if (key is null || value is null || !IsValidUtf16(key) || !IsValidUtf16(value))
            {
                ThrowHelper.ThrowArgument(nameof(metadata), $"Metadata entry '{key}' must be a non-null, valid UTF-16 string pair.");
            }

            if (key == FormatKey)
            {
                if (value != FormatValue)
                {
                    ThrowHelper.ThrowArgument(nameof(metadata), $"Metadata 'format' must be \"{FormatValue}\" (Hugging Face loaders require it), not \"{value}\".");
                }

                continue;
            }

            entries.Add(new(key, value));
        }

        // "format" first, the rest in ordinal key order: the output must not depend on the dictionary's enumeration order.
        entries.Sort(1, entries.Count - 1, Comparer<KeyValuePair<string, string>>.Create(static (a, b) => string.CompareOrdinal(a.Key, b.Key)));
        return new SafetensorsWriter(Path.GetFullPath(path), [.. entries]);
    }

    /// <summary>Adds a tensor given as raw little-endian bytes. The memory is not copied: keep it unchanged until <see cref="Save"/>.</summary>
    /// <param name="name">A unique, non-empty name other than <c>__metadata__</c>.</param>
    /// <param name="dtype">The element type.</param>
    /// <param name="shape">Dimensions, outermost first; empty for a scalar; zeros allowed.</param>
    /// <param name="data">Exactly product(<paramref name="shape"/>) × bits(<paramref name="dtype"/>) / 8 bytes, row-major.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, reserved, invalid UTF-16 or already added;
    /// <paramref name="shape"/> does not give a whole number of bytes or overflows; or <paramref name="data"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is undefined or a dimension is negative.</exception>
    /// <exception cref="ObjectDisposedException">The writer is disposed.</exception>
    public void Add(string name, SafetensorsDType dtype, ReadOnlySpan<long> shape, ReadOnlyMemory<byte> data)
    {
        Pending pending = Validate(name, dtype, shape);
        long byteLength = pending.ElementCount * dtype.GetBitSize() / 8;
        if (data.Length != byteLength)
        {
            ThrowHelper.ThrowArgument(nameof(data), $"Tensor '{name}' is {Describe(dtype, shape)}: {byteLength} bytes are required, {data.Length} were given.");
        }

        _tensors.Add(name, pending with { Data = data });
    }

    /// <summary>Adds an F32 tensor (the values are copied).</summary>
    /// <param name="name">A unique, non-empty name other than <c>__metadata__</c>.</param>
    /// <param name="shape">Dimensions, outermost first; product(<paramref name="shape"/>) must equal the number of values.</param>
    /// <param name="values">Row-major values.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is invalid or taken, or <paramref name="values"/> does not match <paramref name="shape"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative.</exception>
    /// <exception cref="ObjectDisposedException">The writer is disposed.</exception>
    public void AddSingle(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values) =>
        MemoryMarshal.AsBytes(values).CopyTo(AddBuffer(name, SafetensorsDType.F32, shape, values.Length));

    /// <summary>Adds an F16 tensor converted from float32, rounding to nearest, ties to even (overflow gives ±Inf).</summary>
    /// <inheritdoc cref="AddSingle" path="/param"/>
    /// <inheritdoc cref="AddSingle" path="/exception"/>
    public void AddHalf(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values) =>
        TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(AddBuffer(name, SafetensorsDType.F16, shape, values.Length).AsSpan()));

    /// <summary>Adds a BF16 tensor converted from float32, rounding to nearest, ties to even (NaN stays NaN).</summary>
    /// <inheritdoc cref="AddSingle" path="/param"/>
    /// <inheritdoc cref="AddSingle" path="/exception"/>
    public void AddBFloat16(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values) =>
        BFloat16Conversion.FromSingle(values, AddBuffer(name, SafetensorsDType.BF16, shape, values.Length));

    /// <summary>Adds an I32 tensor (the values are copied).</summary>
    /// <inheritdoc cref="AddSingle" path="/param"/>
    /// <inheritdoc cref="AddSingle" path="/exception"/>
    public void AddInt32(string name, ReadOnlySpan<long> shape, ReadOnlySpan<int> values) =>
        MemoryMarshal.AsBytes(values).CopyTo(AddBuffer(name, SafetensorsDType.I32, shape, values.Length));

    /// <summary>Adds an I8 tensor (the values are copied).</summary>
    /// <inheritdoc cref="AddSingle" path="/param"/>
    /// <inheritdoc cref="AddSingle" path="/exception"/>
    public void AddInt8(string name, ReadOnlySpan<long> shape, ReadOnlySpan<sbyte> values) =>
        MemoryMarshal.AsBytes(values).CopyTo(AddBuffer(name, SafetensorsDType.I8, shape, values.Length));

    /// <summary>Adds a U8 tensor (the values are copied).</summary>
    /// <inheritdoc cref="AddSingle" path="/param"/>
    /// <inheritdoc cref="AddSingle" path="/exception"/>
    public void AddUInt8(string name, ReadOnlySpan<long> shape, ReadOnlySpan<byte> values) =>
        values.CopyTo(AddBuffer(name, SafetensorsDType.U8, shape, values.Length));

    /// <summary>Writes the file atomically. May be called again (for example after a cancelled attempt).</summary>
    /// <param name="cancellationToken">Checked between chunks of tensor data; cancellation leaves no file behind.</param>
    /// <exception cref="InvalidOperationException">The header would exceed 100,000,000 bytes.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested; the target is untouched and no temporary file remains.</exception>
    /// <exception cref="IOException">The file cannot be written (for example, its folder does not exist).</exception>
    /// <exception cref="ObjectDisposedException">The writer is disposed.</exception>
    public void Save(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ordered = _tensors
            .OrderByDescending(static t => t.Value.DType.GetAlignment())
            .ThenBy(static t => t.Key, StringComparer.Ordinal)
            .ToArray();

        var infos = new SafetensorsTensorInfo[ordered.Length];
        long offset = 0;
        for (int i = 0; i < ordered.Length; i++)
        {
            var (name, t) = ordered[i];
            long end = checked(offset + t.Data.Length);
            infos[i] = new SafetensorsTensorInfo(name, t.DType, t.Shape, t.ElementCount, offset, end);
            offset = end;
        }

        byte[] header = SafetensorsHeader.Serialize(_metadata, infos);
        if (header.Length > MaxHeaderLength)
        {
            throw new InvalidOperationException(
                $"The safetensors header for '{FilePath}' would be {header.Length} bytes, more than the limit of {MaxHeaderLength}.");
        }

        AtomicFile.Write(
            FilePath,
            stream =>
            {
                Span<byte> prefix = stackalloc byte[SafetensorsHeader.LengthPrefixSize];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (var (_, t) in ordered)
                {
                    ReadOnlySpan<byte> data = t.Data.Span;
                    for (int start = 0; start < data.Length; start += WriteChunkBytes)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        stream.Write(data.Slice(start, Math.Min(WriteChunkBytes, data.Length - start)));
                    }
                }
            },
            cancellationToken);
    }

    /// <summary>Drops the collected tensors; the writer cannot be used afterwards. Calling it again does nothing.</summary>
    public void Dispose()
    {
        _disposed = true;
        _tensors.Clear();
    }

    private byte[] AddBuffer(string name, SafetensorsDType dtype, ReadOnlySpan<long> shape, int valueCount)
    {
        Pending pending = Validate(name, dtype, shape);
        if (pending.ElementCount != valueCount)
        {
            ThrowHelper.ThrowArgument("values", $"Tensor '{name}' has shape [{string.Join(", ", shape.ToArray())}] = {pending.ElementCount} elements, but {valueCount} values were given.");
        }

        byte[] buffer = new byte[pending.ElementCount * dtype.GetBitSize() / 8];
        _tensors.Add(name, pending with { Data = buffer });
        return buffer;
    }

    private Pending Validate(string name, SafetensorsDType dtype, ReadOnlySpan<long> shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name == SafetensorsHeader.MetadataKey || !IsValidUtf16(name))
        {
            ThrowHelper.ThrowArgument(nameof(name), $"Tensor name '{name}' is not allowed: it must be non-empty valid UTF-16 and not '{SafetensorsHeader.MetadataKey}'.");
        }

        if (_tensors.ContainsKey(name))
        {
            ThrowHelper.ThrowArgument(nameof(name), $"Tensor '{name}' was already added to '{FilePath}'.");
        }

        if (!Enum.IsDefined(dtype))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(dtype), dtype, $"Tensor '{name}': not a defined safetensors dtype.");
        }

        foreach (long dimension in shape)
        {
            if (dimension < 0)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(shape), dimension, $"Tensor '{name}': dimensions must be non-negative.");
            }
        }

        switch (SafetensorsHeader.ComputeSize(shape, dtype, out long count, out _))
        {
            case SafetensorsError.ValidationOverflow:
                ThrowHelper.ThrowArgument(nameof(shape), $"Tensor '{name}': the size of {Describe(dtype, shape)} overflows a 64-bit integer.");
                break;
            case SafetensorsError.MisalignedSlice:
                ThrowHelper.ThrowArgument(nameof(shape), $"Tensor '{name}': {Describe(dtype, shape)} is not a whole number of bytes.");
                break;
        }

        return new Pending(dtype, [.. shape], count, ReadOnlyMemory<byte>.Empty);
    }

    private static string Describe(SafetensorsDType dtype, ReadOnlySpan<long> shape) => $"{dtype.GetName()}[{string.Join(", ", shape.ToArray())}]";

    private static bool IsValidUtf16(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }

    private readonly record struct Pending(SafetensorsDType DType, ImmutableArray<long> Shape, long ElementCount, ReadOnlyMemory<byte> Data);
}
