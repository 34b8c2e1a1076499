using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CsCheck;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Tests.Formats.Safetensors;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void TypedWritesReadBackExactly()
    {
        var random = new Random(1234);
        float[] f32 = [.. Enumerable.Range(0, 34).Select(_ => (float)(random.NextDouble() * 200 - 100)),
            float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue, 65520f, 1f / 3];
        int[] i32 = [int.MinValue, -1, 0, 1, int.MaxValue, 123456789];
        sbyte[] i8 = [sbyte.MinValue, -1, 0, 1, sbyte.MaxValue, 42];
        byte[] u8 = [0, 1, 127, 128, 255, 7];

        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            writer.AddSingle("f32", [f32.Length / 3, 3], f32);
            writer.AddHalf("f16", [f32.Length], f32);
            writer.AddBFloat16("bf16", [f32.Length], f32);
            writer.AddInt32("i32", [2, 3], i32);
            writer.AddInt8("i8", [6], i8);
            writer.AddUInt8("u8", [3, 2], u8);
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        AssertInfo(reader, "f32", SafetensorsDType.F32, [f32.Length / 3, 3]);
        AssertInfo(reader, "f16", SafetensorsDType.F16, [f32.Length]);
        AssertInfo(reader, "bf16", SafetensorsDType.BF16, [f32.Length]);
        AssertInfo(reader, "i32", SafetensorsDType.I32, [2, 3]);
        AssertInfo(reader, "i8", SafetensorsDType.I8, [6]);
        AssertInfo(reader, "u8", SafetensorsDType.U8, [3, 2]);

        AssertBitwiseEqual(f32, reader.ReadAsSingle("f32"));
        AssertBitwiseEqual(f32, reader.Read<float>("f32"));

        // F16: each element is the scalar runtime conversion (round to nearest even), widened back exactly.
        Half[] halves = reader.Read<Half>("f16");
        Assert.Equal(f32.Select(x => BitConverter.HalfToUInt16Bits((Half)x)), halves.Select(BitConverter.HalfToUInt16Bits));
        AssertBitwiseEqual([.. halves.Select(h => (float)h)], reader.ReadAsSingle("f16"));

        // BF16: the stored bits are the rounded upper halves; widening appends 16 zero bits.
        ReadOnlySpan<byte> bf16 = reader.GetTensorBytes("bf16");
        float[] widened = reader.ReadAsSingle("bf16");
        for (int i = 0; i < f32.Length; i++)
        {
            ushort stored = BinaryPrimitives.ReadUInt16LittleEndian(bf16[(2 * i)..]);
            Assert.Equal((uint)stored << 16, BitConverter.SingleToUInt32Bits(widened[i]));
            Assert.Equal(BFloat16Conversion.FromSingle(f32[i]), stored); // the conversion itself is checked against its definition
        }

        Assert.Equal(i32, reader.Read<int>("i32"));
        Assert.Equal(i8, reader.Read<sbyte>("i8"));
        Assert.Equal(u8, reader.Read<byte>("u8"));
    }

    [Theory]
    [InlineData(0x3C00, 1f)]
    [InlineData(0x7BFF, 65504f)]
    [InlineData(0x7C00, 65520f)]            // halfway to 65536 ties to even: Inf
    [InlineData(0x3555, 1f / 3)]
    [InlineData(0x0001, 5.9604645e-8f)]     // 2^-24, the smallest subnormal
    [InlineData(0x0000, 2.9802322e-8f)]     // 2^-25: halfway between 0 and 2^-24, ties to even (0)
    [InlineData(0x0002, 8.940697e-8f)]      // 3·2^-25: halfway between 1 and 2 units, ties to even (2)
    [InlineData(0x8000, -0f)]
    public void HalfConversionRoundsToNearestEven(int expectedBits, float value)
    {
        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            writer.AddHalf("h", [], [value]);
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal((ushort)expectedBits, BinaryPrimitives.ReadUInt16LittleEndian(reader.GetTensorBytes("h")));
    }

    [Fact]
    public void RawBytesRoundTripForEveryDType()
    {
        var random = new Random(99);
        var expected = new Dictionary<string, (SafetensorsDType DType, long[] Shape, byte[] Data)>();
        foreach (SafetensorsDType dtype in Enum.GetValues<SafetensorsDType>())
        {
            long[] shape = dtype.GetBitSize() switch { 4 => [3, 2], 6 => [2, 4], _ => [2, 3] };
            byte[] data = new byte[shape[0] * shape[1] * dtype.GetBitSize() / 8];
            random.NextBytes(data);
            expected[$"t.{dtype.GetName()}"] = (dtype, shape, data);
        }

        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            foreach (var (name, (dtype, shape, data)) in expected)
            {
                writer.Add(name, dtype, shape, data);
            }

            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(expected.Keys.Order(), reader.Tensors.Keys.Order());
        foreach (var (name, (dtype, shape, data)) in expected)
        {
            AssertInfo(reader, name, dtype, shape);
            Assert.Equal(data, reader.GetTensorBytes(name).ToArray());
        }
    }

    [Fact]
    public void TypedReadsCoverEveryDirectlyStoredType()
    {
        long[] i64 = [long.MinValue, -5, long.MaxValue];
        short[] i16 = [short.MinValue, -7, short.MaxValue];
        ushort[] u16 = [0, 1, ushort.MaxValue];
        uint[] u32 = [0, 7, uint.MaxValue];
        ulong[] u64 = [0, 9, ulong.MaxValue];
        double[] f64 = [Math.PI, double.NegativeInfinity, -0.0];
        byte[] flags = [0, 1, 2]; // any non-zero byte reads as true

        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            writer.Add("i64", SafetensorsDType.I64, [3], MemoryMarshal.AsBytes(i64.AsSpan()).ToArray());
            writer.Add("i16", SafetensorsDType.I16, [3], MemoryMarshal.AsBytes(i16.AsSpan()).ToArray());
            writer.Add("u16", SafetensorsDType.U16, [3], MemoryMarshal.AsBytes(u16.AsSpan()).ToArray());
            writer.Add("u32", SafetensorsDType.U32, [3], MemoryMarshal.AsBytes(u32.AsSpan()).ToArray());
            writer.Add("u64", SafetensorsDType.U64, [3], MemoryMarshal.AsBytes(u64.AsSpan()).ToArray());
            writer.Add("f64", SafetensorsDType.F64, [3], MemoryMarshal.AsBytes(f64.AsSpan()).ToArray());
            writer.Add("bool", SafetensorsDType.Bool, [3], flags);
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(i64, reader.Read<long>("i64"));
        Assert.Equal(i16, reader.Read<short>("i16"));
        Assert.Equal(u16, reader.Read<ushort>("u16"));
        Assert.Equal(u32, reader.Read<uint>("u32"));
        Assert.Equal(u64, reader.Read<ulong>("u64"));
        Assert.Equal(f64.Select(BitConverter.DoubleToInt64Bits), reader.Read<double>("f64").Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal([false, true, true], reader.Read<bool>("bool"));

        Span<long> longer = stackalloc long[5];
        longer.Fill(-1);
        reader.Read<long>("i64", longer);
        Assert.Equal([.. i64, -1, -1], longer.ToArray());
    }

    [Fact]
    public void EmptyAndScalarTensorsRoundTrip()
    {
        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            writer.AddSingle("scalar", [], [42.5f]);
            writer.AddSingle("empty", [0], []);
            writer.AddInt32("empty3d", [3, 0, 2], []);
            writer.Add("emptyF4", SafetensorsDType.F4, [0, 5], ReadOnlyMemory<byte>.Empty);
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Empty(reader.Tensors["scalar"].Shape);
        Assert.Equal(1, reader.Tensors["scalar"].ElementCount);
        Assert.Equal(4, reader.Tensors["scalar"].ByteLength);
        Assert.Equal([42.5f], reader.ReadAsSingle("scalar"));
        foreach (string name in new[] { "empty", "empty3d", "emptyF4" })
        {
            Assert.Equal(0, reader.Tensors[name].ElementCount);
            Assert.Equal(0, reader.Tensors[name].ByteLength);
            Assert.True(reader.GetTensorBytes(name).IsEmpty);
        }

        Assert.Empty(reader.ReadAsSingle("empty"));
        Assert.Empty(reader.Read<int>("empty3d"));
        Assert.Equal([3L, 0, 2], reader.Tensors["empty3d"].Shape.ToArray());
    }

    [Fact]
    public void FileWithEmptyDataBufferOpens()
    {
        string onlyEmpty = _temp.File("empty.safetensors");
        using (var writer = SafetensorsWriter.Create(onlyEmpty))
        {
            writer.AddSingle("nothing", [0, 4], []);
            writer.Save();
        }

        string noTensors = _temp.File("none.safetensors");
        using (var writer = SafetensorsWriter.Create(noTensors, new Dictionary<string, string> { ["note"] = "no tensors" }))
        {
            writer.Save();
        }

        using (var reader = SafetensorsReader.Open(onlyEmpty))
        {
            Assert.Equal(["nothing"], reader.Tensors.Keys);
        }

        using (var reader = SafetensorsReader.Open(noTensors))
        {
            Assert.Empty(reader.Tensors);
            Assert.Equal("no tensors", reader.Metadata["note"]);
        }
    }

    [Fact]
    public void MetadataRoundTripsWithFormatFirst()
    {
        var metadata = new Dictionary<string, string>
        {
            ["zeta"] = "last",
            ["quantization"] = "gptq_v2",
            ["rotation"] = """{"construction":"paley1","k":172}""",
            ["unicode ключ"] = "значение ✓ 𝄞",
            ["controls"] = "tab\tnewline\n quote\" backslash\\ nul\0",
            ["empty"] = string.Empty,
            ["format"] = "pt",
        };

        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path, metadata))
        {
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), reader.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(
            ["format", "controls", "empty", "quantization", "rotation", "unicode ключ", "zeta"],
            reader.Metadata.Keys);
    }

    [Fact]
    public void FormatPtIsAlwaysWritten()
    {
        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path))
        {
            writer.AddUInt8("x", [1], [1]);
            writer.Save();
        }

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, reader.Metadata);
    }

    [Fact]
    public void LayoutIsSortedAlignedAndPadded()
    {
        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path, new Dictionary<string, string> { ["k"] = "v" }))
        {
            writer.AddUInt8("b_u8", [3], [1, 2, 3]);
            writer.AddSingle("z_f32", [1], [1f]);
            writer.Add("a_i64", SafetensorsDType.I64, [1], new byte[8]);
            writer.AddHalf("c_f16", [1], [1f]);
            writer.AddSingle("a_f32", [1], [2f]);
            writer.Add("f4", SafetensorsDType.F4, [2], new byte[1]);
            writer.Add("c64", SafetensorsDType.C64, [1], new byte[8]);
            writer.Save();
        }

        // Parse the file independently of the reader: JsonDocument keeps property order.
        byte[] file = File.ReadAllBytes(path);
        int n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        Assert.Equal(0, n % 8);
        string header = Encoding.UTF8.GetString(file, 8, n);
        Assert.StartsWith("""{"__metadata__":{"format":"pt","k":"v"},""", header, StringComparison.Ordinal);
        Assert.Matches(@"^\{.*\} *$", header);
        Assert.DoesNotContain("\n", header, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(header.TrimEnd(' '));
        string[] names = [.. json.RootElement.EnumerateObject().Select(p => p.Name).Skip(1)];
        Assert.Equal(["a_i64", "c64", "a_f32", "z_f32", "c_f16", "b_u8", "f4"], names);

        long expectedBegin = 0;
        foreach (JsonProperty tensor in json.RootElement.EnumerateObject().Skip(1))
        {
            var dtype = SafetensorsDTypeExtensions.Parse(tensor.Value.GetProperty("dtype").GetString()!);
            long[] offsets = [.. tensor.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64())];
            Assert.Equal(expectedBegin, offsets[0]);
            Assert.Equal(0, (8 + n + offsets[0]) % dtype.GetAlignment());
            expectedBegin = offsets[1];
        }

        Assert.Equal(file.Length, 8 + n + expectedBegin);
    }

    [Fact]
    public void IdenticalInputGivesByteIdenticalFilesWhateverTheAddOrder()
    {
        var random = new Random(5);
        var tensors = Enumerable.Range(0, 12)
            .Select(i => (Name: $"layer.{i % 4}.w{i}", Values: Enumerable.Range(0, 4 + i).Select(_ => random.NextSingle()).ToArray()))
            .ToArray();
        var metadataA = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["c"] = "3" };
        var metadataB = new Dictionary<string, string> { ["c"] = "3", ["a"] = "1", ["b"] = "2" };

        byte[] Write(string file, IEnumerable<(string Name, float[] Values)> order, Dictionary<string, string> metadata)
        {
            string path = _temp.File(file);
            using var writer = SafetensorsWriter.Create(path, metadata);
            foreach (var (name, values) in order)
            {
                if (values.Length % 3 == 0)
                {
                    writer.AddHalf(name, [values.Length], values);
                }
                else
                {
                    writer.AddSingle(name, [values.Length], values);
                }
            }

            writer.Save();
            return File.ReadAllBytes(path);
        }

        byte[] first = Write("a.safetensors", tensors, metadataA);
        Assert.Equal(first, Write("b.safetensors", tensors.Reverse(), metadataB));
        Assert.Equal(first, Write("c.safetensors", tensors.OrderBy(_ => random.Next()), metadataA));
    }

    [Fact]
    public void RandomTensorSetsRoundTrip()
    {
        SafetensorsDType[] all = Enum.GetValues<SafetensorsDType>();
        var genTensor = Gen.Select(Gen.Int[0, all.Length - 1], Gen.Int[0, 4].Array[0, 3], Gen.Int)
            .Select((d, dims, seed) =>
            {
                var dtype = all[d];
                long[] shape = [.. dims.Select(x => (long)x)];
                long count = shape.Aggregate(1L, (a, b) => a * b);
                if (count * dtype.GetBitSize() % 8 != 0)
                {
                    shape = [.. shape, 4]; // makes sub-byte sizes whole bytes
                    count *= 4;
                }

                var data = new byte[count * dtype.GetBitSize() / 8];
                new Random(seed).NextBytes(data);
                return (dtype, shape, data);
            });

        int run = 0;
        genTensor.Array[0, 6].Sample(tensors =>
        {
            string path = _temp.File($"p{run++}.safetensors");
            using (var writer = SafetensorsWriter.Create(path))
            {
                for (int i = 0; i < tensors.Length; i++)
                {
                    writer.Add($"t{i}", tensors[i].dtype, tensors[i].shape, tensors[i].data);
                }

                writer.Save();
            }

            using var reader = SafetensorsReader.Open(path);
            Assert.Equal(tensors.Length, reader.Tensors.Count);
            for (int i = 0; i < tensors.Length; i++)
            {
                AssertInfo(reader, $"t{i}", tensors[i].dtype, tensors[i].shape);
                Assert.Equal(tensors[i].data, reader.GetTensorBytes($"t{i}").ToArray());
            }
        }, iter: 40, threads: 1);
    }

    [Fact]
    public void HeaderMutationsEitherParseOrFailAsInvalidSafetensors()
    {
        string path = _temp.File();
        using (var writer = SafetensorsWriter.Create(path, new Dictionary<string, string> { ["k"] = "v" }))
        {
            writer.AddSingle("a", [2], [1f, 2f]);
            writer.Add("f4", SafetensorsDType.F4, [2], new byte[1]);
            writer.AddInt8("b", [3], [1, 2, 3]);
            writer.Save();
        }

        byte[] valid = File.ReadAllBytes(path);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        Gen.Select(Gen.Int[0, headerEnd - 1], Gen.Byte, Gen.Int[0, headerEnd - 1], Gen.Byte).Sample((i, b, j, c) =>
        {
            byte[] mutated = (byte[])valid.Clone();
            mutated[i] = b;
            mutated[j] = c;
            try
            {
                SafetensorsBytes.Validate(mutated);
            }
            catch (InvalidSafetensorsException)
            {
            }
        }, iter: 20_000);
    }

    private static void AssertInfo(SafetensorsReader reader, string name, SafetensorsDType dtype, long[] shape)
    {
        SafetensorsTensorInfo info = reader.Tensors[name];
        Assert.Equal(name, info.Name);
        Assert.Equal(dtype, info.DType);
        Assert.Equal(shape, info.Shape);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        Assert.Equal(count, info.ElementCount);
        Assert.Equal(count * dtype.GetBitSize() / 8, info.ByteLength);
        Assert.Equal(info.ByteLength, info.DataEnd - info.DataBegin);
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual) =>
        Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), actual.Select(BitConverter.SingleToUInt32Bits));
}
