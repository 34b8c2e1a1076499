using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Collections.ObjectModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// A validated safetensors header: parsing with every invariant of formats/safetensors.md §3, and the
/// deterministic serialisation of §4.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>Largest header accepted or written, in bytes (the reference <c>MAX_HEADER_SIZE</c>).</summary>
    public const int MaxLength = 100_000_000;

    /// <summary>Size of the little-endian u64 header length that starts the file.</summary>
    public const int LengthPrefixSize = 8;

    /// <summary>The reserved top-level key holding the string → string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    private SafetensorsHeader(int length, IReadOnlyDictionary<string, SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Length = length;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>N: the header's length in bytes, padding included.</summary>
    public int Length { get; }

    /// <summary>Absolute file offset of the data buffer, 8 + N.</summary>
    public long DataStart => LengthPrefixSize + (long)Length;

    /// <summary>Tensors in data-buffer order.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map in file order; empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads and checks N from the first bytes of a file (§3.1, §3.2).</summary>
    /// <param name="prefix">The file's first bytes (at least 8 when the file has them).</param>
    /// <param name="fileLength">The whole file's length in bytes.</param>
    /// <param name="path">The file, for messages.</param>
    public static int ReadLength(ReadOnlySpan<byte> prefix, long fileLength, string? path)
    {
        if (fileLength < LengthPrefixSize || prefix.Length < LengthPrefixSize)
        {
            throw Invalid(SafetensorsError.HeaderTooSmall, $"the file holds {fileLength} bytes, fewer than the {LengthPrefixSize}-byte header length.", path);
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > MaxLength)
        {
            throw Invalid(SafetensorsError.HeaderTooLarge, $"the header length {length} exceeds the limit of {MaxLength} bytes.", path);
        }

        // length ≤ 10^8, so 8 + length cannot overflow.
        if (LengthPrefixSize + (long)length > fileLength)
        {
            throw Invalid(SafetensorsError.InvalidHeaderLength, $"the header length {length} runs past the end of the {fileLength}-byte file.", path);
        }

        return (int)length;
    }

    /// <summary>Parses the N header bytes of a file of <paramref name="fileLength"/> bytes and checks §3.3–§3.11.</summary>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> header, long fileLength, string? path)
    {
        if (!Utf8.IsValid(header))
        {
            throw Invalid(SafetensorsError.InvalidHeader, "the header is not valid UTF-8.", path);
        }

        if (header.IsEmpty || header[0] != (byte)'{')
        {
            throw Invalid(SafetensorsError.InvalidHeaderStart, "the header does not start with '{'.", path);
        }

        var metadata = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafetensorsTensorInfo>();
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            reader.Read();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                if (!keys.Add(key))
                {
                    throw Invalid(SafetensorsError.DuplicateKey, $"the top-level key '{key}' appears more than once.", path, key == MetadataKey ? null : key);
                }

                reader.Read();
                if (key == MetadataKey)
                {
                    ReadMetadata(ref reader, metadata, path);
                }
                else
                {
                    entries.Add(ReadEntry(ref reader, key, path));
                }
            }

            // The loop ends on the root's EndObject; anything after it may only be space padding.
            int end = checked((int)reader.BytesConsumed);
            if (header[end..].ContainsAnyExcept((byte)' '))
            {
                throw Invalid(SafetensorsError.InvalidHeaderDeserialization, $"non-space bytes follow the JSON object at header offset {end}.", path);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Invalid(SafetensorsError.InvalidHeaderDeserialization, $"the header is not one JSON object ({e.Message})", path, inner: e);
        }

        var tensors = CheckLayout(entries, fileLength - LengthPrefixSize - header.Length, path);
        return new SafetensorsHeader(header.Length, new ReadOnlyDictionary<string, SafetensorsTensorInfo>(tensors), new ReadOnlyDictionary<string, string>(metadata));
    }

    /// <summary>
    /// Element count and byte length of a tensor: null when valid, else <see cref="SafetensorsError.ValidationOverflow"/>
    /// or <see cref="SafetensorsError.MisalignedSlice"/> (§3.9).
    /// </summary>
    public static SafetensorsError? ComputeSize(ReadOnlySpan<long> shape, SafetensorsDType dtype, out long elementCount, out long byteLength)
    {
        elementCount = 1;
        byteLength = 0;
        long bits;
        try
        {
            foreach (long dimension in shape)
            {
                elementCount = checked(elementCount * dimension);
            }

            bits = checked(elementCount * dtype.GetBitSize());
        }
        catch (OverflowException)
        {
            return SafetensorsError.ValidationOverflow;
        }

        if (bits % 8 != 0)
        {
            return SafetensorsError.MisalignedSlice;
        }

        byteLength = bits / 8;
        return null;
    }

    /// <summary>
    /// Serialises a header as compact JSON, <c>__metadata__</c> first, tensors in the given order, padded with spaces
    /// to a multiple of 8 bytes (§4).
    /// </summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, string>> metadata, IEnumerable<SafetensorsTensorInfo> tensors)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject(MetadataKey);
            foreach (var (key, value) in metadata)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            foreach (SafetensorsTensorInfo tensor in tensors)
            {
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", tensor.DType.GetName());
                json.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape)
                {
                    json.WriteNumberValue(dimension);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(tensor.DataBegin);
                json.WriteNumberValue(tensor.DataEnd);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        var bytes = new byte[(buffer.WrittenCount + 7) & ~7];
        bytes.AsSpan().Fill((byte)' ');
        buffer.WrittenSpan.CopyTo(bytes);
        return bytes;
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, OrderedDictionary<string, string> metadata, string? path)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid(SafetensorsError.InvalidMetadata, $"'{MetadataKey}' is a JSON {reader.TokenType}, not an object.", path);
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw Invalid(SafetensorsError.InvalidMetadata, $"'{MetadataKey}.{key}' is a JSON {reader.TokenType}; metadata values must be strings.", path);
            }

            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw Invalid(SafetensorsError.DuplicateKey, $"the key '{MetadataKey}.{key}' appears more than once.", path);
            }
        }
    }

    private static SafetensorsTensorInfo ReadEntry(ref Utf8JsonReader reader, string name, string? path)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid(SafetensorsError.InvalidTensorEntry, $"the entry is a JSON {reader.TokenType}, not an object.", path, name);
        }

        SafetensorsDType? dtype = null;
        long[]? shape = null, offsets = null;
        var fields = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string field = reader.GetString()!;
            if (!fields.Add(field))
            {
                throw Invalid(SafetensorsError.DuplicateKey, $"the field '{field}' appears more than once in the entry.", path, name);
            }

            reader.Read();
            switch (field)
            {
                case "dtype":
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw Invalid(SafetensorsError.InvalidTensorEntry, $"'dtype' is a JSON {reader.TokenType}, not a string.", path, name);
                    }

                    string dtypeName = reader.GetString()!;
                    dtype = SafetensorsDTypeExtensions.TryParse(dtypeName, out var parsed)
                        ? parsed
                        : throw Invalid(SafetensorsError.UnknownDType, $"'{dtypeName}' is not a safetensors dtype.", path, name);
                    break;
                case "shape":
                    shape = ReadNaturals(ref reader, field, name, path);
                    break;
                case "data_offsets":
                    offsets = ReadNaturals(ref reader, field, name, path);
                    if (offsets.Length != 2)
                    {
                        throw Invalid(SafetensorsError.InvalidTensorEntry, $"'data_offsets' holds {offsets.Length} values instead of 2.", path, name);
                    }

                    break;
                default:
                    throw Invalid(SafetensorsError.InvalidTensorEntry, $"unknown field '{field}' (only dtype, shape and data_offsets are allowed).", path, name);
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw Invalid(SafetensorsError.InvalidTensorEntry, $"the entry has no '{missing}'.", path, name);
        }

        long begin = offsets[0], end = offsets[1];
        if (begin > end)
        {
            throw Invalid(SafetensorsError.InvalidOffset, $"data_offsets [{begin}, {end}] end before they begin.", path, name);
        }

        SafetensorsError? sizeError = ComputeSize(shape, dtype.Value, out long count, out long bytes);
        if (sizeError is SafetensorsError error)
        {
            string detail = error == SafetensorsError.ValidationOverflow
                ? $"the size of shape [{string.Join(", ", shape)}] × {dtype.Value.GetBitSize()} bits overflows."
                : $"{count} elements × {dtype.Value.GetBitSize()} bits is not a whole number of bytes.";
            throw Invalid(error, detail, path, name);
        }

        if (bytes != end - begin)
        {
            throw Invalid(
                SafetensorsError.TensorInvalidInfo,
                $"{dtype.Value.GetName()}[{string.Join(", ", shape)}] needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}.",
                path,
                name);
        }

        return new SafetensorsTensorInfo(name, dtype.Value, ImmutableArray.Create(shape), count, begin, end);
    }

    private static long[] ReadNaturals(ref Utf8JsonReader reader, string field, string name, string? path)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Invalid(SafetensorsError.InvalidTensorEntry, $"'{field}' is a JSON {reader.TokenType}, not an array.", path, name);
        }

        var values = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
            {
                throw Invalid(SafetensorsError.InvalidTensorEntry, $"'{field}' holds something other than a non-negative 64-bit integer.", path, name);
            }

            values.Add(value);
        }

        return [.. values];
    }

    // §3.10 and §3.11: sorted by (begin, end), the tensors tile the data buffer exactly.
    private static OrderedDictionary<string, SafetensorsTensorInfo> CheckLayout(List<SafetensorsTensorInfo> entries, long dataLength, string? path)
    {
        entries.Sort(static (a, b) =>
            a.DataBegin != b.DataBegin ? a.DataBegin.CompareTo(b.DataBegin)
            : a.DataEnd != b.DataEnd ? a.DataEnd.CompareTo(b.DataEnd)
            : string.CompareOrdinal(a.Name, b.Name));

        var tensors = new OrderedDictionary<string, SafetensorsTensorInfo>(entries.Count, StringComparer.Ordinal);
        long expected = 0;
        foreach (SafetensorsTensorInfo entry in entries)
        {
            if (entry.DataBegin != expected)
            {
                string what = entry.DataBegin > expected ? "leaving a hole" : "overlapping the previous tensor";
                throw Invalid(SafetensorsError.InvalidOffset, $"the tensor starts at {entry.DataBegin} instead of {expected}, {what}.", path, entry.Name);
            }

            expected = entry.DataEnd;
            tensors.Add(entry.Name, entry);
        }

        if (expected != dataLength)
        {
            throw Invalid(
                SafetensorsError.MetadataIncompleteBuffer,
                $"the tensors cover {expected} bytes but the data buffer holds {dataLength}.",
                path);
        }

        return tensors;
    }

    private static InvalidSafetensorsException Invalid(SafetensorsError error, string detail, string? path, string? tensor = null, Exception? inner = null) =>
        new(error, detail, path, tensor, inner);
}
