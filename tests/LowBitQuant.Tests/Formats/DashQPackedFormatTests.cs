using System.Text.Json;
using CsCheck;
using LowBitQuant.Formats.DashQ;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats;

/// <summary>formats/dashq-packed.md §6.</summary>
public class DashQPackedFormatTests
{
    [Fact]
    public void PackingRoundTripsForEveryBitWidthIncludingPartialTailWords() =>
        Gen.Select(Gen.Int[1, 8], Gen.Int[0, 200], Gen.Int[0, 10_000]).Sample((bits, count, seed) =>
        {
            var rng = new Random(seed);
            var codes = Enumerable.Range(0, count).Select(_ => (byte)rng.Next(1 << bits)).ToArray();
            var words = DashQPacking.Pack(codes, bits);
            Assert.Equal((count + (32 / bits) - 1) / (32 / bits), words.Length);
            Assert.Equal(codes, DashQPacking.Unpack(words, bits, count));
        }, iter: 300);

    [Fact]
    public void PackingMatchesTheWorkedExamples()
    {
        var two = Enumerable.Repeat(new byte[] { 0, 1, 2, 3 }, 4).SelectMany(x => x).ToArray();
        Assert.Equal([unchecked((int)0xE4E4E4E4)], DashQPacking.Pack(two, 2));
        Assert.Equal([0x08FAC688], DashQPacking.Pack([0, 1, 2, 3, 4, 5, 6, 7, 0, 1], 3));
    }

    [Fact]
    public void ThreeBitWordsLeaveTheTopBitsUnusedAndPadTheTail()
    {
        var words = DashQPacking.Pack([7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], 3);
        Assert.Equal(2, words.Length);
        Assert.Equal(0x3FFFFFFF, words[0]);
        Assert.Equal(7, words[1]);
    }

    [Fact]
    public void CodesThatDoNotFitAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => DashQPacking.Pack([1, 4], 2));
        Assert.Equal("codes", ex.ParamName);
        Assert.Contains("[1]", ex.Message);
    }

    [Fact]
    public void QuantizedLayerRoundTripsBitForBit()
    {
        var layer = LowBitQuant.Internal.SyntheticLayer.Create(24, 96, 128, seed: 3);
        foreach (var (bits, group) in new[] { (2, 32), (3, 32), (4, 96), (8, 16) })
        {
            var q = new DashQQuantizer(new DashQOptions(new QuantizationScheme(bits, group))).Quantize(layer.Weights, layer.Hessian);
            var module = DashQPackedWriter.Pack(q);
            Assert.Equal(24L * 96 / group, module.Entry.GroupCount);
            Assert.Equal(module.Entry.PackedLength, module.PackedCodes.Length);
            var back = DashQPackedReader.Unpack(
                module.Entry,
                module.PackedCodes.Span,
                module.Scale.ToArray().Select(h => (float)h).ToArray(),
                module.Zero.ToArray().Select(h => (float)h).ToArray());
            Assert.Equal(q.Codes.ToArray(), back.Codes.ToArray());
            Assert.Equal(q.Dequantize().Data.ToArray(), back.Dequantize().Data.ToArray());
        }
    }

    [Fact]
    public void ConfigEntryFollowsTheSpecExample()
    {
        var entry = new DashQModuleEntry(4096, 4096, 4096, 2, 32);
        string text = DashQPackedWriter.SerializeConfig(new Dictionary<string, DashQModuleEntry> { ["model.layers.0.self_attn.q_proj"] = entry });
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("dashq-packed-linear", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal("causal_lm", doc.RootElement.GetProperty("model_class").GetString());
        var e = doc.RootElement.GetProperty("quantized_modules").GetProperty("model.layers.0.self_attn.q_proj");
        Assert.Equal(
            ["in_features", "out_features", "quant_in_features", "nbits", "group_size", "num_groups", "scale_zero_dtype", "linear_dtype"],
            e.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(524288, e.GetProperty("num_groups").GetInt64());
        Assert.Equal("float16", e.GetProperty("scale_zero_dtype").GetString());
        Assert.Equal("bfloat16", e.GetProperty("linear_dtype").GetString());
        Assert.Equal(entry, DashQPackedReader.ParseConfig(text)["model.layers.0.self_attn.q_proj"]);
    }

    [Fact]
    public void ConfigIsWrittenAtomicallyAndReadBack()
    {
        string dir = Directory.CreateTempSubdirectory("dashq").FullName;
        try
        {
            string path = Path.Combine(dir, "dashq_config.json");
            var modules = new Dictionary<string, DashQModuleEntry> { ["b"] = new(64, 8, 64, 3, 32), ["a"] = new(128, 4, 128, 2, 64) };
            DashQPackedWriter.WriteConfig(path, modules);
            Assert.Equal(new[] { "dashq_config.json" }, Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).ToArray());
            var read = DashQPackedReader.ReadConfig(path);
            Assert.Equal(modules["a"], read["a"]);
            Assert.Equal(modules["b"], read["b"]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("float8", "unknown")]
    [InlineData("FP16", "unknown")]
    public void UnknownScaleZeroDTypeIsRejected(string dtype, string expected)
    {
        string json = """{"format":"dashq-packed-linear","quantized_modules":{"m":{"in_features":64,"out_features":2,"nbits":2,"group_size":32,"num_groups":4,"scale_zero_dtype":"DTYPE"}}}""".Replace("DTYPE", dtype, StringComparison.Ordinal);
        var ex = Assert.Throws<InvalidDashQCheckpointException>(() => DashQPackedReader.ParseConfig(json));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("'m'", ex.Message);
    }

    [Theory]
    [InlineData("""{"format":"gptq","quantized_modules":{}}""", "format")]
    [InlineData("""{"format":"dashq-packed-linear"}""", "quantized_modules")]
    [InlineData("""{"format":"dashq-packed-linear","quantized_modules":{"m":{"in_features":64,"out_features":2,"nbits":2,"group_size":32,"num_groups":5}}}""", "num_groups")]
    [InlineData("""{"format":"dashq-packed-linear","quantized_modules":{"m":{"in_features":64,"out_features":2,"quant_in_features":96,"nbits":2,"group_size":32,"num_groups":6}}}""", "quant_in_features")]
    [InlineData("""{"format":"dashq-packed-linear","quantized_modules":{"m":{"in_features":64,"out_features":2,"nbits":2,"num_groups":4}}}""", "group_size")]
    [InlineData("""{not json""", "JSON")]
    public void MalformedConfigIsRejectedWithTheRule(string json, string expected)
    {
        var ex = Assert.Throws<InvalidDashQCheckpointException>(() => DashQPackedReader.ParseConfig(json));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void GroupsThatDoNotDivideTheRowCannotBeWritten()
    {
        var w = TestData.Normal(2 * 40, seed: 1);
        var q = new DashQQuantizer(new DashQOptions(new QuantizationScheme(2, 32))).Quantize(new DenseMatrix(w, 2, 40), HessianEstimate.FromDiagonal(Enumerable.Repeat(1f, 40).ToArray(), 1));
        Assert.False(DashQPackedWriter.CanWrite(q, out string? reason));
        Assert.Contains("padded groups", reason);
        var ex = Assert.Throws<ArgumentException>(() => DashQPackedWriter.Pack(q));
        Assert.Equal("tensor", ex.ParamName);
    }

    [Fact]
    public void TensorsOfTheWrongLengthAreRejectedOnUnpack()
    {
        var entry = new DashQModuleEntry(64, 2, 64, 2, 32);
        var ex = Assert.Throws<InvalidDashQCheckpointException>(() => DashQPackedReader.Unpack(entry, new int[7], new float[4], new float[4], "m"));
        Assert.Contains("m.W_q_packed", ex.Message);
        ex = Assert.Throws<InvalidDashQCheckpointException>(() => DashQPackedReader.Unpack(entry, new int[8], new float[3], new float[4], "m"));
        Assert.Contains("num_groups", ex.Message);
        ex = Assert.Throws<InvalidDashQCheckpointException>(() => DashQPackedReader.Unpack(entry, new int[8], [1, 1, 0, 1], new float[4], "m"));
        Assert.Contains("positive", ex.Message);
    }
}
