using System.Text.Json.Nodes;
using LowBitQuant.Formats;
using LowBitQuant.Formats.HuggingFace;
using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats;

public sealed class HuggingFaceCheckpointReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-hf").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string HfFolder => SharedData.Require("models/stories260K-hf");

    /// <summary>All tensors of the real HF model, by name.</summary>
    private static Dictionary<string, (long[] Shape, float[] Data)> RealTensors()
    {
        using var reader = SafetensorsReader.Open(Path.Combine(HfFolder, "model.safetensors"));
        return reader.Tensors.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape.ToArray(), reader.ReadAsSingle(kv.Key)));
    }

    private string WriteFolder(string name, Dictionary<string, (long[] Shape, float[] Data)> tensors, int shards, Action<JsonObject>? editConfig = null, SafetensorsDType dtype = SafetensorsDType.F32, Action<JsonObject>? editIndex = null)
    {
        string folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(HfFolder, "config.json")))!.AsObject();
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        string[] names = [.. tensors.Keys.Order(StringComparer.Ordinal)];
        var map = new JsonObject();
        for (int s = 0; s < shards; s++)
        {
            string file = shards == 1 ? "model.safetensors" : $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            using SafetensorsWriter writer = SafetensorsWriter.Create(Path.Combine(folder, file));
            for (int i = s; i < names.Length; i += shards)
            {
                (long[] shape, float[] data) = tensors[names[i]];
                switch (dtype)
                {
                    case SafetensorsDType.F16: writer.AddHalf(names[i], shape, data); break;
                    case SafetensorsDType.BF16: writer.AddBFloat16(names[i], shape, data); break;
                    default: writer.AddSingle(names[i], shape, data); break;
                }

                map[names[i]] = file;
            }

            writer.Save();
        }

        if (shards > 1)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map };
            editIndex?.Invoke(index);
            File.WriteAllText(Path.Combine(folder, HuggingFaceCheckpointReader.IndexFileName), index.ToJsonString());
        }

        return folder;
    }

    [SkippableFact]
    public void Llama2cAndHuggingFaceLayoutsGiveTheSameLogits()
    {
        using LlamaModel l2c = LlamaModel.Open(SharedData.Require("models/stories260K/stories260K.bin"));
        using LlamaModel hf = LlamaModel.Open(HfFolder);
        Assert.Equal(RopeConvention.AdjacentPairs, l2c.Config.RopeConvention);
        Assert.Equal(RopeConvention.HalfRotation, hf.Config.RopeConvention);
        Assert.True(hf.Config.TiedEmbeddings);
        var tok = Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 512);
        int[] tokens = tok.Encode(File.ReadAllText(SharedData.Require("corpora/janeausten/prideprejudice.txt"))[..800], addBos: true, addEos: false);
        float[] a = l2c.Forward(tokens);
        float[] b = hf.Forward(tokens);
        float maxDiff = 0;
        for (int i = 0; i < a.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - b[i]));
        }

        Assert.True(maxDiff < 1e-4f, $"max |Δlogit| = {maxDiff}");

        // v, o and the MLP are stored unpermuted; q is row-permuted within each head.
        Assert.Equal(l2c.GetLinearWeights("model.layers.2.mlp.down_proj").Data.ToArray(), hf.GetLinearWeights("model.layers.2.mlp.down_proj").Data.ToArray());
        Assert.NotEqual(l2c.GetLinearWeights("model.layers.2.self_attn.q_proj").Data.ToArray(), hf.GetLinearWeights("model.layers.2.self_attn.q_proj").Data.ToArray());
    }

    [SkippableFact]
    public void ShardedF32EqualsSingleFileAndHalfPrecisionIsConverted()
    {
        var tensors = RealTensors();
        string sharded = WriteFolder("sharded", tensors, shards: 3);
        string half = WriteFolder("half", tensors, shards: 2, dtype: SafetensorsDType.F16);
        int[] tokens = [1, 410, 300, 280, 77, 499, 3];
        using LlamaModel single = LlamaModel.Open(HfFolder);
        using LlamaModel shardedModel = LlamaModel.Open(sharded);
        Assert.Equal(single.Forward(tokens), shardedModel.Forward(tokens));

        using var halfReader = HuggingFaceCheckpointReader.Open(half);
        var wq = new float[64 * 64];
        halfReader.ReadTensor(LlamaTensor.QueryProjection, 4, wq);
        float[] original = tensors["model.layers.4.self_attn.q_proj.weight"].Data;
        for (int i = 0; i < wq.Length; i++)
        {
            Assert.Equal((float)(Half)original[i], wq[i]);
        }
    }

    [SkippableFact]
    public void MissingOrMisshapenTensorsAreNamed()
    {
        var tensors = RealTensors();
        var missing = new Dictionary<string, (long[], float[])>(tensors);
        missing.Remove("model.layers.3.mlp.up_proj.weight");
        var ex = Assert.Throws<InvalidCheckpointException>(() => HuggingFaceCheckpointReader.Open(WriteFolder("missing", missing, 2)));
        Assert.Contains("model.layers.3.mlp.up_proj.weight", ex.Message);
        Assert.Contains("missing", ex.Message);

        var wrong = new Dictionary<string, (long[], float[])>(tensors)
        {
            ["model.layers.1.self_attn.k_proj.weight"] = ([64, 32], tensors["model.layers.1.self_attn.k_proj.weight"].Data),
        };
        ex = Assert.Throws<InvalidCheckpointException>(() => HuggingFaceCheckpointReader.Open(WriteFolder("wrong", wrong, 1)));
        Assert.Contains("model.layers.1.self_attn.k_proj.weight", ex.Message);
        Assert.Contains("[64, 32]", ex.Message);
        Assert.Contains("[32, 64]", ex.Message);

        ex = Assert.Throws<InvalidCheckpointException>(() => HuggingFaceCheckpointReader.Open(
            WriteFolder("untied", tensors, 1, c => c["tie_word_embeddings"] = false)));
        Assert.Contains("lm_head.weight", ex.Message);

        // The index claims a tensor lives in a shard that does not hold it.
        ex = Assert.Throws<InvalidCheckpointException>(() => HuggingFaceCheckpointReader.Open(
            WriteFolder("badindex", tensors, 2, editIndex: i => i["weight_map"]!["model.norm.weight"] = "model-00002-of-00002.safetensors" == i["weight_map"]!["model.norm.weight"]!.GetValue<string>() ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors")));
        Assert.Contains("model.norm.weight", ex.Message);

        Assert.Throws<FileNotFoundException>(() => HuggingFaceCheckpointReader.Open(
            WriteFolder("noshard", tensors, 2, editIndex: i => i["weight_map"]!["model.norm.weight"] = "model-00009-of-00009.safetensors")));
    }

    [SkippableTheory]
    [InlineData("hidden_size", null, "hidden_size")]
    [InlineData("rms_norm_eps", null, "rms_norm_eps")]
    [InlineData("num_key_value_heads", "3", "num_key_value_heads")]
    [InlineData("hidden_size", "\"64\"", "hidden_size")]
    [InlineData("model_type", "\"qwen3\"", "q_norm")]
    [InlineData("model_type", "\"qwen2\"", "biases")]
    [InlineData("model_type", "\"gpt2\"", "gpt2")]
    [InlineData("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8.0}", "llama3")]
    [InlineData("hidden_act", "\"gelu\"", "gelu")]
    [InlineData("attention_bias", "true", "attention_bias")]
    [InlineData("intermediate_size", "100", "mlp.gate_proj")]
    public void InvalidOrUnsupportedConfigsAreRefusedNamingTheField(string field, string? json, string expectedInMessage)
    {
        string folder = WriteFolder("cfg", RealTensors(), 1, c =>
        {
            c.Remove(field);
            if (json is not null)
            {
                c[field] = JsonNode.Parse(json);
            }
        });
        var ex = Assert.Throws<InvalidCheckpointException>(() => HuggingFaceCheckpointReader.Open(folder));
        Assert.Contains(expectedInMessage, ex.Message);
    }
}
