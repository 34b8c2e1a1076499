using System.Text.Json.Nodes;
using LowBitQuant.Formats.Checkpoints;
using LowBitQuant.Formats.Safetensors;
using static LowBitQuant.Tests.Formats.Checkpoints.CheckpointTestHelpers;

namespace LowBitQuant.Tests.Formats.Checkpoints;

public sealed class QuantizedCheckpointRoundTripTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-ckpt").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public void GptqFromHuggingFaceExcludesThe172WideFeedForwardAndRoundTripsExactly()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, 32));
        var options = new QuantizedCheckpointOptions { Method = "rtn", ExtraFiles = [Tokenizer] };
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.Gptq, Path.Combine(_dir, "gptq"), options);

        // Exactly gate/up/down of every layer are excluded, with the reason naming 172.
        string[] expectedExcluded = [.. Linears(source.Config).Where(m => m.Name.Contains(".mlp.", StringComparison.Ordinal)).Select(m => m.Name)];
        Assert.Equal(expectedExcluded, summary.ExcludedModules.Select(e => e.Name));
        Assert.All(summary.ExcludedModules, e => Assert.Contains("172", e.Reason, StringComparison.Ordinal));
        Assert.Equal(20, summary.QuantizedModules.Count);

        // The label matches the zeros actually stored: v2 exactly when some quantized module has a zero of 0.
        bool needsV2 = summary.QuantizedModules.Any(m => modules[m].Zeros.ToArray().Contains(0f));
        Assert.Equal(needsV2 ? "gptq_v2" : "gptq", summary.FormatLabel);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "config.json")))!.AsObject();
        var qc = config["quantization_config"]!.AsObject();
        Assert.Equal(summary.FormatLabel, (string?)qc["checkpoint_format"]);
        Assert.Equal("gptq", (string?)qc["quant_method"]);
        Assert.Equal(32, (int)qc["group_size"]!);
        Assert.Equal(4, (int)qc["bits"]!);
        Assert.Equal(15, qc["dynamic"]!.AsObject().Count);
        Assert.All(qc["dynamic"]!.AsObject(), kv => Assert.StartsWith("-:", kv.Key, StringComparison.Ordinal));
        var side = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "quantize_config.json")))!;
        Assert.True(JsonNode.DeepEquals(qc, side));
        Assert.Equal(["config.json", "model.safetensors", "quantize_config.json", "tok512.bin"], summary.Files);
        Assert.Equal(File.ReadAllBytes(Tokenizer), File.ReadAllBytes(Path.Combine(summary.Directory, "tok512.bin")));
        Assert.Equal("LlamaForCausalLM", (string?)config["architectures"]![0]);
        Assert.Equal(1, (int)config["bos_token_id"]!);
        Assert.True((bool)config["tie_word_embeddings"]!);

        using (var st = SafetensorsReader.Open(Path.Combine(summary.Directory, "model.safetensors")))
        {
            Assert.Equal("pt", st.Metadata["format"]);
            Assert.Equal("rtn", st.Metadata["quantization_method"]);
            Assert.Equal(summary.FormatLabel, st.Metadata["checkpoint_format"]);
            Assert.StartsWith("lowbitquant:", st.Metadata["quantizer"], StringComparison.Ordinal);
            Assert.Equal(SafetensorsDType.F32, st.Tensors["model.layers.0.mlp.down_proj.weight"].DType);
            Assert.False(st.Tensors.ContainsKey("model.layers.0.self_attn.q_proj.weight"));
        }

        VerifyRoundTrip(source, modules, summary);
    }

    [SkippableFact]
    public void CompressedTensorsPerChannelHoldsEveryModuleAndRoundTripsExactly()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(3, null));
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.CompressedTensors, Path.Combine(_dir, "ct"), new() { Method = "rtn" });
        Assert.Empty(summary.ExcludedModules);
        Assert.Equal(35, summary.QuantizedModules.Count);
        Assert.Equal("compressed-tensors pack-quantized", summary.FormatLabel);
        var qc = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "config.json")))!["quantization_config"]!;
        Assert.Equal("pack-quantized", (string?)qc["format"]);
        Assert.Equal(["lm_head"], qc["ignore"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("channel", (string?)qc["config_groups"]!["group_0"]!["weights"]!["strategy"]);
        VerifyRoundTrip(source, modules, summary);
    }

    [SkippableFact]
    public void DashQPerRowHoldsEveryModuleWithRealZerosAndRoundTripsExactly()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, DashQ(2, null));
        Assert.Contains(modules.Values, q => !q.HasIntegerZeros);
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, Path.Combine(_dir, "dashq"), new() { Method = "dashq" });
        Assert.Empty(summary.ExcludedModules);
        Assert.Equal("dashq-packed-linear", summary.FormatLabel);
        Assert.Contains("dashq_config.json", summary.Files);
        Assert.Null(JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "config.json")))!["quantization_config"]);
        VerifyRoundTrip(source, modules, summary);
    }

    [SkippableTheory]
    [InlineData(QuantizedCheckpointFormat.Gptq)]
    [InlineData(QuantizedCheckpointFormat.CompressedTensors)]
    [InlineData(QuantizedCheckpointFormat.DashQ)]
    public void Llama2cSourceBecomesAHuggingFaceCheckpointWithPermutedQueryKeyRows(QuantizedCheckpointFormat format)
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(Llama2cFile);
        Assert.Equal(RopeConvention.AdjacentPairs, source.Config.RopeConvention);
        var modules = QuantizeAll(source, format == QuantizedCheckpointFormat.DashQ ? DashQ(4, null) : Rtn(4, format == QuantizedCheckpointFormat.Gptq ? 32 : null));
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, format, Path.Combine(_dir, "l2c"), new() { ExtraFiles = [Tokenizer] });
        Assert.True(summary.PermutedQueryKeyRows);
        Assert.Equal(format == QuantizedCheckpointFormat.Gptq ? 15 : 0, summary.ExcludedModules.Count);
        VerifyRoundTrip(source, modules, summary);

        // The written folder is also a plain HF checkpoint for the runtime, close to the llama2.c model with the same weights.
        using ILlamaWeightSource reopened = LlamaCheckpoint.Open(summary.Directory);
        Assert.Equal(RopeConvention.HalfRotation, reopened.Config.RopeConvention);
        float[] a = Logits(reopened, new Dictionary<string, DenseMatrix>());
        float[] b = Logits(source, summary.QuantizedModules.ToDictionary(m => m, m => modules[m].Dequantize()));
        float maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(maxDiff < 1e-3f, $"max |Δlogit| = {maxDiff}");
    }

    [SkippableFact]
    public void SmallShardLimitWritesAnIndexAndShardsThatReadBackIdentically()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.CompressedTensors, Path.Combine(_dir, "sharded"), new() { MaxShardBytes = 40_000 });
        string[] shards = [.. summary.Files.Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal))];
        Assert.True(shards.Length > 2, $"{shards.Length} shards");
        Assert.All(shards, (f, i) => Assert.Equal($"model-{i + 1:00000}-of-{shards.Length:00000}.safetensors", f));
        Assert.Contains("model.safetensors.index.json", summary.Files);
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "model.safetensors.index.json")))!;
        Assert.Equal(summary.TensorBytes, (long)index["metadata"]!["total_size"]!);
        long sum = 0;
        foreach (string shard in shards)
        {
            using var st = SafetensorsReader.Open(Path.Combine(summary.Directory, shard));
            sum += st.Tensors.Values.Sum(t => t.ByteLength);
            Assert.All(st.Tensors.Keys, name => Assert.Equal(shard, (string?)index["weight_map"]![name]));
            Assert.True(st.Tensors.Count == 1 || st.Tensors.Values.Sum(t => t.ByteLength) <= 40_000);
        }

        Assert.Equal(summary.TensorBytes, sum);
        VerifyRoundTrip(source, modules, summary);
    }

    [SkippableFact]
    public void SymmetricGridIsWrittenAsGptqV1WithTheSymmetricZeroWords()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, new RtnQuantizer(new QuantizationScheme(4, 32, symmetric: true)));
        QuantizedCheckpointSummary summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.Gptq, Path.Combine(_dir, "sym"));
        Assert.Equal("gptq", summary.FormatLabel);
        using (var st = SafetensorsReader.Open(Path.Combine(summary.Directory, "model.safetensors")))
        {
            Assert.All(st.Read<int>("model.layers.2.self_attn.o_proj.qzeros"), w => Assert.Equal(0x77777777, w));
            Assert.True((bool)JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "quantize_config.json")))!["sym"]!);
        }

        VerifyRoundTrip(source, modules, summary);
    }

    [SkippableFact]
    public void HalfRotationViewOfTheLlama2cModelEqualsTheConvertedHuggingFaceModel()
    {
        using ILlamaWeightSource l2c = LlamaCheckpoint.Open(Llama2cFile);
        using ILlamaWeightSource hf = LlamaCheckpoint.Open(HfFolder);
        var view = new HalfRotationWeightSource(l2c);
        foreach (var (name, t, layer) in Linears(hf.Config))
        {
            AssertBitwiseEqual(Read(hf, t, layer), Read(view, t, layer), name);
        }
    }

    /// <summary>
    /// Every written module dequantizes bit for bit to the in-memory tensor (rows permuted to the HF order for a llama2.c source),
    /// excluded modules and other tensors equal the source, and the logits equal the source model with the same modules replaced.
    /// </summary>
    private static void VerifyRoundTrip(ILlamaWeightSource source, Dictionary<string, QuantizedTensor> modules, QuantizedCheckpointSummary summary)
    {
        LlamaConfig c = source.Config;
        bool permute = c.RopeConvention == RopeConvention.AdjacentPairs;
        using ILlamaWeightSource reopened = LlamaCheckpoint.Open(summary.Directory);
        var reader = Assert.IsType<QuantizedCheckpointReader>(reopened);
        Assert.Equal(summary.QuantizedModules, reader.QuantizedModules);
        Assert.Equal(summary.ExcludedModules.Select(e => e.Name), reader.FullPrecisionModules);
        Assert.Equal(summary.FormatLabel, reader.FormatLabel);

        float[] ToHf(LlamaTensor t, float[] rows) => permute && t is LlamaTensor.QueryProjection or LlamaTensor.KeyProjection ? PermuteToHalfRotation(rows, c.GetShape(t).Columns, c.HeadDim) : rows;

        var replaced = new Dictionary<string, DenseMatrix>();
        foreach (var (name, t, layer) in Linears(c))
        {
            float[] got = Read(reopened, t, layer);
            (int rows, int columns) = c.GetShape(t);
            if (summary.QuantizedModules.Contains(name))
            {
                float[] expected = ToHf(t, modules[name].Dequantize().Data.ToArray());
                AssertBitwiseEqual(expected, got, name);
                replaced[name] = new DenseMatrix(expected, rows, columns);
                AssertBitwiseEqual(expected, reader.ReadQuantized(name)!.Dequantize().Data.Span, name + " (ReadQuantized)");
            }
            else
            {
                AssertBitwiseEqual(ToHf(t, Read(source, t, layer)), got, name + " (full precision)");
                Assert.Null(reader.ReadQuantized(name));
            }
        }

        foreach (LlamaTensor t in new[] { LlamaTensor.TokenEmbedding, LlamaTensor.FinalNorm, LlamaTensor.AttentionNorm, LlamaTensor.FeedForwardNorm })
        {
            AssertBitwiseEqual(Read(source, t, 1), Read(reopened, t, 1), t.ToString());
        }

        ILlamaWeightSource reference = permute ? new HalfRotationWeightSource(source) : source;
        AssertBitwiseEqual(Logits(reference, replaced), Logits(reopened, new Dictionary<string, DenseMatrix>()), "logits");
    }

    /// <summary>Test-local llama2.c → HF row permutation: within each head, old row 2i + j becomes new row j·d/2 + i.</summary>
    private static float[] PermuteToHalfRotation(float[] w, int columns, int headDim)
    {
        var result = new float[w.Length];
        int rows = w.Length / columns, half = headDim / 2;
        for (int h = 0; h < rows / headDim; h++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int j = 0; j < 2; j++)
                {
                    Array.Copy(w, ((h * headDim) + (2 * i) + j) * columns, result, ((h * headDim) + (j * half) + i) * columns, columns);
                }
            }
        }

        return result;
    }
}
