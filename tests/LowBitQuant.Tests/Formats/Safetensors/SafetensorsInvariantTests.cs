using System.Buffers.Binary;
using System.Text;
using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Tests.Formats.Safetensors;

/// <summary>
/// One group of tests per invariant of formats/safetensors.md §3. Each malformed file is built in the test from
/// <see cref="Valid"/> by breaking exactly one rule; <see cref="TheValidBaselineOpens"/> proves the baseline is accepted.
/// </summary>
public sealed class SafetensorsInvariantTests : IDisposable
{
    private const string Valid = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(Valid, 8)]
    [InlineData("{}", 0)]
    [InlineData("""{"__metadata__":{"format":"pt"}}""", 0)]
    [InlineData("{\n  \"a\" : {\"data_offsets\":[0,8], \"shape\":[2], \"dtype\":\"F32\"}\n}", 8)]
    [InlineData("""{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"f":{"dtype":"I8","shape":[3,0],"data_offsets":[0,0]}}""", 0)]
    public void TheValidBaselineOpens(string header, int dataLength)
    {
        string path = Write(SafetensorsBytes.Build(header, dataLength));
        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(path, reader.FilePath);
    }

    // §3.1
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void FileShorterThanEightBytesIsHeaderTooSmall(int length) =>
        AssertInvalid(new byte[length], SafetensorsError.HeaderTooSmall);

    // §3.2
    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(1UL << 63)]
    [InlineData(ulong.MaxValue)]
    public void HeaderLengthAboveLimitIsHeaderTooLarge(ulong declared) =>
        AssertInvalid(SafetensorsBytes.Build(Valid, 8, declaredLength: declared), SafetensorsError.HeaderTooLarge);

    [Theory]
    [InlineData(0)] // at the limit, so not too large, but past the end of the file
    [InlineData(1)] // one byte past the end of the file
    [InlineData(2)]
    public void HeaderLengthPastEndOfFileIsInvalidHeaderLength(int beyond)
    {
        byte[] file = SafetensorsBytes.Build(Valid, 8);
        ulong declared = beyond == 0 ? 100_000_000UL : (ulong)(file.Length - 8 + beyond);
        AssertInvalid(SafetensorsBytes.Build(Valid, 8, declaredLength: declared), SafetensorsError.InvalidHeaderLength);
    }

    // §3.3
    [Theory]
    [InlineData(new byte[] { 0xFF })]             // never valid in UTF-8
    [InlineData(new byte[] { 0xC0, 0xAF })]       // overlong encoding of '/'
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // encoded surrogate
    [InlineData(new byte[] { 0xE2, 0x82 })]       // truncated sequence
    public void HeaderThatIsNotUtf8IsInvalidHeader(byte[] bad)
    {
        byte[] header = [.. "{\"__metadata__\":{\"k\":\""u8, .. bad, .. "\"}}"u8];
        AssertInvalid(SafetensorsBytes.Build(header), SafetensorsError.InvalidHeader);
    }

    // §3.4
    [Theory]
    [InlineData(" {}")]
    [InlineData("\n{}")]
    [InlineData("[]")]
    [InlineData("\"a\"")]
    [InlineData("")]
    public void HeaderNotStartingWithBraceIsInvalidHeaderStart(string header) =>
        AssertInvalid(SafetensorsBytes.Build(header, pad: false), SafetensorsError.InvalidHeaderStart);

    [Theory]
    [InlineData("{}x")]
    [InlineData("{}\n")]
    [InlineData("{}\t")]
    [InlineData("{}  \0")]
    public void NonSpaceAfterTheObjectIsInvalidHeaderDeserialization(string header) =>
        AssertInvalid(SafetensorsBytes.Build(header, pad: false), SafetensorsError.InvalidHeaderDeserialization);

    // §3.5
    [Theory]
    [InlineData("{\"a\":")]
    [InlineData("{} {}")]
    [InlineData("{/* comment */}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],}}")]
    [InlineData("{\"__metadata__\":{\"k\":\"\\ud800\"}}")] // escaped lone surrogate
    [InlineData("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0] \"data_offsets\":[0,0]}}")]
    public void MalformedJsonIsInvalidHeaderDeserialization(string header) =>
        AssertInvalid(SafetensorsBytes.Build(header), SafetensorsError.InvalidHeaderDeserialization);

    // §3.6
    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", "a")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"\u0061":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", "a")]
    [InlineData("""{"a":{"dtype":"F32","dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", "a")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"shape":[0],"data_offsets":[0,0]}}""", "a")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"data_offsets":[0,0]}}""", "a")]
    [InlineData("""{"__metadata__":{},"__metadata__":{}}""", null)]
    [InlineData("""{"__metadata__":{"format":"pt","format":"pt"}}""", null)]
    public void DuplicateKeyIsRejected(string header, string? tensor) =>
        AssertInvalid(SafetensorsBytes.Build(header), SafetensorsError.DuplicateKey, tensor);

    // §3.7
    [Theory]
    [InlineData("""{"__metadata__":{"format":1}}""")]
    [InlineData("""{"__metadata__":{"format":"pt","nested":{"a":"b"}}}""")]
    [InlineData("""{"__metadata__":{"list":["a"]}}""")]
    [InlineData("""{"__metadata__":{"flag":true}}""")]
    [InlineData("""{"__metadata__":{"none":null}}""")]
    [InlineData("""{"__metadata__":"pt"}""")]
    [InlineData("""{"__metadata__":["format","pt"]}""")]
    [InlineData("""{"__metadata__":null}""")]
    public void NonStringMetadataIsInvalidMetadata(string header) =>
        AssertInvalid(SafetensorsBytes.Build(header), SafetensorsError.InvalidMetadata);

    // §3.8
    [Theory]
    [InlineData("""{"a":1}""")]
    [InlineData("""{"a":[]}""")]
    [InlineData("""{"a":"F32"}""")]
    [InlineData("""{"a":{"shape":[0],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"extra":1}}""")]
    [InlineData("""{"a":{"dtype":32,"shape":[0],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":0,"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[[0]],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[null],"data_offsets":[0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0,0]}}""")]
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,9223372036854775808]}}""")]
    public void MalformedEntryIsInvalidTensorEntry(string header) =>
        AssertInvalid(SafetensorsBytes.Build(header), SafetensorsError.InvalidTensorEntry, "a");

    [Theory]
    [InlineData("F33")]
    [InlineData("f32")]
    [InlineData("")]
    [InlineData("FLOAT")]
    public void UnknownDTypeIsRejected(string dtype) =>
        AssertInvalid(
            SafetensorsBytes.Build($$$"""{"a":{"dtype":"{{{dtype}}}","shape":[0],"data_offsets":[0,0]}}"""),
            SafetensorsError.UnknownDType,
            "a");

    [Fact]
    public void ReversedOffsetsAreInvalidOffset() =>
        AssertInvalid(SafetensorsBytes.Build("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", 8), SafetensorsError.InvalidOffset, "a");

    // §3.9
    [Theory]
    [InlineData("F32", "4294967296,4294967296")] // element count 2^64
    [InlineData("F32", "1152921504606846976")]    // 2^60 elements × 32 bits = 2^65 bits
    [InlineData("F4", "9223372036854775807")]
    [InlineData("U8", "9223372036854775807,2")]
    public void SizeOverflowIsValidationOverflow(string dtype, string shape) =>
        AssertInvalid(
            SafetensorsBytes.Build($$$"""{"big":{"dtype":"{{{dtype}}}","shape":[{{{shape}}}],"data_offsets":[0,0]}}"""),
            SafetensorsError.ValidationOverflow,
            "big");

    [Theory]
    [InlineData("F4", "3")]
    [InlineData("F4", "3,3")]
    [InlineData("F6_E2M3", "1")]
    [InlineData("F6_E3M2", "2,3")]
    public void SubByteTensorWithPartialByteIsMisalignedSlice(string dtype, string shape) =>
        AssertInvalid(
            SafetensorsBytes.Build($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[{{{shape}}}],"data_offsets":[0,2]}}""", 2),
            SafetensorsError.MisalignedSlice,
            "w");

    [Theory]
    [InlineData("F32", "2", 4)]
    [InlineData("F32", "2", 12)]
    [InlineData("F4", "4", 1)]
    [InlineData("BF16", "", 4)]
    [InlineData("I8", "0", 1)]
    public void OffsetsNotMatchingShapeAndDTypeAreTensorInvalidInfo(string dtype, string shape, int bytes) =>
        AssertInvalid(
            SafetensorsBytes.Build($$$"""{"w":{"dtype":"{{{dtype}}}","shape":[{{{shape}}}],"data_offsets":[0,{{{bytes}}}]}}""", bytes),
            SafetensorsError.TensorInvalidInfo,
            "w");

    // §3.10
    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "a")] // hole at the start
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "b")] // hole between
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "b")] // overlap
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "b")] // same range
    [InlineData("""{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "b")] // header order is irrelevant
    public void HolesAndOverlapsAreInvalidOffset(string header, int dataLength, string tensor) =>
        AssertInvalid(SafetensorsBytes.Build(header, dataLength), SafetensorsError.InvalidOffset, tensor);

    // §3.11
    [Theory]
    [InlineData(Valid, 9)] // a hidden byte after the last tensor
    [InlineData(Valid, 7)] // the last tensor runs past the end of the file (offsets out of range)
    [InlineData(Valid, 0)]
    [InlineData("{}", 8)]  // no tensors, yet data
    [InlineData("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", 1)]
    public void DataBufferNotCoveredExactlyIsMetadataIncompleteBuffer(string header, int dataLength) =>
        AssertInvalid(SafetensorsBytes.Build(header, dataLength), SafetensorsError.MetadataIncompleteBuffer);

    [Fact]
    public void TruncatedFileIsRejectedAtEveryLength()
    {
        byte[] full = SafetensorsBytes.Build(
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I8","shape":[3],"data_offsets":[8,11]}}""",
            11);
        SafetensorsBytes.Validate(full);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(full);
        for (int length = 0; length < full.Length; length++)
        {
            var ex = Assert.Throws<InvalidSafetensorsException>(() => SafetensorsBytes.Validate(full[..length]));
            SafetensorsError expected = length < 8 ? SafetensorsError.HeaderTooSmall
                : length < headerEnd ? SafetensorsError.InvalidHeaderLength
                : SafetensorsError.MetadataIncompleteBuffer;
            Assert.Equal(expected, ex.Error);
        }

        // And through a real file, truncated inside the data.
        AssertInvalid(full[..^1], SafetensorsError.MetadataIncompleteBuffer);
    }

    [Fact]
    public void MessageNamesFileTensorAndRule()
    {
        var ex = AssertInvalid(
            SafetensorsBytes.Build("""{"layer.0.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8),
            SafetensorsError.TensorInvalidInfo,
            "layer.0.weight");
        Assert.Contains("12 bytes", ex.Message, StringComparison.Ordinal);
    }

    private string Write(byte[] file)
    {
        string path = _temp.File("case.safetensors");
        File.WriteAllBytes(path, file);
        return path;
    }

    private InvalidSafetensorsException AssertInvalid(byte[] file, SafetensorsError error, string? tensor = null)
    {
        string path = Write(file);
        var ex = Assert.Throws<InvalidSafetensorsException>(() => SafetensorsReader.Open(path));
        Assert.Equal(error, ex.Error);
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(tensor, ex.TensorName);
        Assert.Contains($"'{path}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(error.ToString(), ex.Message, StringComparison.Ordinal);
        if (tensor is not null)
        {
            Assert.Contains($"tensor '{tensor}'", ex.Message, StringComparison.Ordinal);
        }

        // The in-memory validation path reaches the same verdict.
        Assert.Equal(error, Assert.Throws<InvalidSafetensorsException>(() => SafetensorsBytes.Validate(file)).Error);
        return ex;
    }
}
