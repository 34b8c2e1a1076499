using System.Text.Json.Nodes;
using LowBitQuant.Formats;
using LowBitQuant.Formats.Checkpoints;
using LowBitQuant.Formats.DashQ;
using static LowBitQuant.Tests.Formats.Checkpoints.CheckpointTestHelpers;

namespace LowBitQuant.Tests.Formats.Checkpoints;

public sealed class QuantizedCheckpointValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-ckpt-v").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableTheory]
    [InlineData(QuantizedCheckpointFormat.DashQ)]
    [InlineData(QuantizedCheckpointFormat.CompressedTensors)]
    public void GroupSizeThatDoesNotDivide172IsAnErrorNamingTheModuleAndNothingIsWritten(QuantizedCheckpointFormat format)
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, 32));
        var ex = Assert.Throws<ArgumentException>(() => QuantizedCheckpointWriter.Write(source, modules, format, Path.Combine(_dir, "out")));
        Assert.Equal("modules", ex.ParamName);
        Assert.Contains("model.layers.0.mlp.down_proj", ex.Message, StringComparison.Ordinal);
        Assert.Contains("172", ex.Message, StringComparison.Ordinal);
        AssertOnlyEntries(_dir);
    }

    [SkippableFact]
    public void RealValuedZerosCannotBeGptqAndTheErrorNamesTheModule()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, DashQ(4, 32));
        var ex = Assert.Throws<ArgumentException>(() => QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.Gptq, Path.Combine(_dir, "out")));
        Assert.Equal("modules", ex.ParamName);
        Assert.Contains("model.layers.0.self_attn.q_proj", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not an integer", ex.Message, StringComparison.Ordinal);
        AssertOnlyEntries(_dir);
    }

    [SkippableFact]
    public void UnknownModuleNamesAndWrongShapesAreRejected()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        var extra = new Dictionary<string, QuantizedTensor>(modules) { ["model.layers.9.self_attn.q_proj"] = modules["model.layers.0.self_attn.q_proj"] };
        var ex = Assert.Throws<ArgumentException>(() => QuantizedCheckpointWriter.Write(source, extra, QuantizedCheckpointFormat.DashQ, Path.Combine(_dir, "out")));
        Assert.Contains("model.layers.9.self_attn.q_proj", ex.Message, StringComparison.Ordinal);
        var swapped = new Dictionary<string, QuantizedTensor>(modules) { ["model.layers.1.self_attn.k_proj"] = modules["model.layers.0.self_attn.q_proj"] };
        ex = Assert.Throws<ArgumentException>(() => QuantizedCheckpointWriter.Write(source, swapped, QuantizedCheckpointFormat.DashQ, Path.Combine(_dir, "out")));
        Assert.Contains("model.layers.1.self_attn.k_proj", ex.Message, StringComparison.Ordinal);
        Assert.Contains("[32, 64]", ex.Message, StringComparison.Ordinal);
        AssertOnlyEntries(_dir);
    }

    [SkippableFact]
    public void ModulesLeftOutAreWrittenInFullPrecisionAndListed()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        modules.Remove("model.layers.3.self_attn.v_proj");
        var summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.CompressedTensors, Path.Combine(_dir, "out"));
        Assert.Equal("model.layers.3.self_attn.v_proj", Assert.Single(summary.ExcludedModules).Name);
        var qc = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.Directory, "config.json")))!["quantization_config"]!;
        Assert.Equal(["model.layers.3.self_attn.v_proj", "lm_head"], qc["ignore"]!.AsArray().Select(n => (string?)n));
        using ILlamaWeightSource reopened = LlamaCheckpoint.Open(summary.Directory);
        AssertBitwiseEqual(Read(source, LlamaTensor.ValueProjection, 3), Read(reopened, LlamaTensor.ValueProjection, 3), "v_proj");
    }

    [SkippableFact]
    public void CancelledWriteLeavesNothingBehind()
    {
        using ILlamaWeightSource inner = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(inner, Rtn(4, null));
        using var cts = new CancellationTokenSource();
        using var source = new CancellingWeightSource(inner, cts, cancelAtRead: 5);
        string target = Path.Combine(_dir, "out");
        Assert.ThrowsAny<OperationCanceledException>(() =>
            QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, target, new() { MaxShardBytes = 20_000 }, cts.Token));
        Assert.True(cts.IsCancellationRequested);
        AssertOnlyEntries(_dir);
    }

    [SkippableFact]
    public void ExistingNonEmptyTargetIsRefusedUnlessOverwriteThenReplacedWhole()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        string target = Path.Combine(_dir, "out");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "old.txt"), "previous run");
        var ex = Assert.Throws<ArgumentException>(() => QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, target));
        Assert.Equal("outputDirectory", ex.ParamName);
        Assert.True(File.Exists(Path.Combine(target, "old.txt")));

        var summary = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, target, new() { Overwrite = true });
        Assert.False(File.Exists(Path.Combine(target, "old.txt")));
        Assert.Equal(summary.Files, Directory.EnumerateFiles(target).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertOnlyEntries(_dir, "out");

        // An existing empty folder needs no overwrite.
        string empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, empty);
        Assert.True(File.Exists(Path.Combine(empty, "dashq_config.json")));
    }

    [SkippableFact]
    public void GptqModuleInConfigWithoutItsTensorsIsReportedByName()
    {
        string folder = WriteGptq();
        string configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var dynamic = config["quantization_config"]!["dynamic"]!.AsObject();
        dynamic.Remove(dynamic.First().Key); // model.layers.0.mlp.gate_proj is now declared quantized
        File.WriteAllText(configPath, config.ToJsonString());
        File.Delete(Path.Combine(folder, "quantize_config.json"));
        var ex = Assert.Throws<InvalidCheckpointException>(() => LlamaCheckpoint.Open(folder));
        Assert.Contains("model.layers.0.mlp.gate_proj", ex.Message, StringComparison.Ordinal);
        Assert.Contains("172", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void GptqTensorMissingAndWrongBitsAreReportedWithTheTensorAndShapes()
    {
        string folder = WriteGptq();
        string configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["quantization_config"]!["bits"] = 2;
        File.WriteAllText(configPath, config.ToJsonString());
        File.Delete(Path.Combine(folder, "quantize_config.json"));
        var ex = Assert.Throws<InvalidCheckpointException>(() => LlamaCheckpoint.Open(folder));
        Assert.Contains("model.layers.0.self_attn.q_proj.qweight", ex.Message, StringComparison.Ordinal);
        Assert.Contains("[8, 64]", ex.Message, StringComparison.Ordinal); // found: 64 · 4 / 32 rows
        Assert.Contains("[4, 64]", ex.Message, StringComparison.Ordinal); // expected for 2 bits
    }

    [SkippableFact]
    public void DashQConfigThatDoesNotMatchTheModelIsRejected()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        string folder = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.DashQ, Path.Combine(_dir, "dq")).Directory;
        string path = Path.Combine(folder, "dashq_config.json");
        string original = File.ReadAllText(path);

        File.WriteAllText(path, original.Replace("model.layers.4.mlp.up_proj", "model.layers.7.mlp.up_proj", StringComparison.Ordinal));
        var ex = Assert.Throws<InvalidDashQCheckpointException>(() => LlamaCheckpoint.Open(folder));
        Assert.Contains("model.layers.7.mlp.up_proj", ex.Message, StringComparison.Ordinal);

        // model.layers.4.mlp.up_proj dropped from the list while its packed tensors remain: the reader wants its .weight.
        var json = JsonNode.Parse(original)!.AsObject();
        json["quantized_modules"]!.AsObject().Remove("model.layers.4.mlp.up_proj");
        File.WriteAllText(path, json.ToJsonString());
        ex = Assert.Throws<InvalidDashQCheckpointException>(() => LlamaCheckpoint.Open(folder));
        Assert.Contains("model.layers.4.mlp.up_proj.weight", ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void CompressedTensorsWeightShapeMustMatchTheModel()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, null));
        string folder = QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.CompressedTensors, Path.Combine(_dir, "ct")).Directory;
        string configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["quantization_config"]!["config_groups"]!["group_0"]!["weights"]!["num_bits"] = 8;
        File.WriteAllText(configPath, config.ToJsonString());
        var ex = Assert.Throws<InvalidCheckpointException>(() => LlamaCheckpoint.Open(folder));
        Assert.Contains("model.layers.0.self_attn.q_proj.weight_packed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("[64, 8]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("[64, 16]", ex.Message, StringComparison.Ordinal);
    }

    private string WriteGptq()
    {
        using ILlamaWeightSource source = LlamaCheckpoint.Open(HfFolder);
        var modules = QuantizeAll(source, Rtn(4, 32));
        return QuantizedCheckpointWriter.Write(source, modules, QuantizedCheckpointFormat.Gptq, Path.Combine(_dir, "gptq")).Directory;
    }
}
