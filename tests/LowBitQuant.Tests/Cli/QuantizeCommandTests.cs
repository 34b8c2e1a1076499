using System.Diagnostics;
using System.Text.Json;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Cli;

public sealed class QuantizeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-quantize-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string[] Args(string model, string output, params string[] extra) => Args(model, output, 6, 96, extra);

    private static string[] Args(string model, string output, int samples, int length, params string[] extra)
    {
        string corpus = SharedData.Require("corpora/janeausten");
        return
        [
            "quantize", "--model", model, "--calibration", Path.Combine(corpus, "emma.txt"), Path.Combine(corpus, "prideprejudice.txt"),
            "--samples", samples.ToString(), "--sequence-length", length.ToString(), "--out", output, .. extra,
        ];
    }

    [SkippableFact]
    public void GptqCheckpointIsWrittenExcludingThe172WideModulesAndEvaluatedFromDisk()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string output = Path.Combine(_dir, "gptq");
        string persuasion = Path.Combine(SharedData.Require("corpora/janeausten"), "persuasion.txt");
        var r = CliRunner.Run([.. Args(model, output, "--method", "gptq", "--bits", "4", "--group-size", "32", "--sym", "--eval", persuasion, "--eval-tokens", "300", "--json")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("gptq", doc.GetProperty("format").GetString());
        var excluded = doc.GetProperty("excluded").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(15, excluded.Length);
        Assert.All(excluded, e => Assert.Contains(".mlp.", e));
        Assert.Equal(35, doc.GetProperty("modules").GetArrayLength());
        var eval = doc.GetProperty("evaluation");
        Assert.True(eval.GetProperty("mean_kl_divergence").GetDouble() > 0);
        Assert.True(eval.GetProperty("top1_agreement").GetDouble() is > 0.5 and < 1);
        Assert.True(eval.GetProperty("reload_matches_in_memory").GetBoolean());

        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json"))).RootElement;
        Assert.Equal("gptq", config.GetProperty("quantization_config").GetProperty("quant_method").GetString());
        Assert.True(File.Exists(Path.Combine(output, "quantize_config.json")));
        Assert.True(File.Exists(Path.Combine(output, "quantization_report.json")));
        Assert.False(Directory.Exists(output + ".partial"));
        using var reloaded = LlamaModel.Open(output);
        Assert.Equal(512, reloaded.Forward([1, 400, 300]).Length / 3);
    }

    [SkippableFact]
    public void HeroQFoldsItsTransformsAndWritesAGptqCheckpointThatReloadsToTheInMemoryModel()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string output = Path.Combine(_dir, "heroq");
        string persuasion = Path.Combine(SharedData.Require("corpora/janeausten"), "persuasion.txt");
        var r = CliRunner.Run([.. Args(model, output, "--method", "heroq", "--inner", "gptq", "--bits", "3", "--group-size", "32", "--eval", persuasion, "--eval-tokens", "300", "--json")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(15, doc.GetProperty("excluded").GetArrayLength());
        Assert.True(doc.GetProperty("evaluation").GetProperty("reload_matches_in_memory").GetBoolean());
        using var reloaded = LlamaModel.Open(output);
        Assert.Equal(512, reloaded.Forward([1, 400, 300]).Length / 3);
    }

    [SkippableFact]
    public void Llama2cInputGivesAHuggingFaceStyleDashQCheckpoint()
    {
        string model = SharedData.Require("models/stories260K/stories260K.bin");
        string output = Path.Combine(_dir, "dashq");
        var r = CliRunner.Run([.. Args(model, output, "--method", "dashq", "--bits", "3", "--group-size", "0", "--format", "dashq")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(output, "dashq_config.json")));
        Assert.True(File.Exists(Path.Combine(output, "config.json")));
        using var reloaded = LlamaModel.Open(output);
        Assert.Equal(RopeConvention.HalfRotation, reloaded.Config.RopeConvention);
    }

    [SkippableFact]
    public void AKilledRunResumesToTheSameCheckpointAsAnUninterruptedOne()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string reference = Path.Combine(_dir, "ref");
        string[] options = ["--method", "gptq", "--bits", "3", "--group-size", "32", "--json"];
        var uninterrupted = CliRunner.Run([.. Args(model, reference, 12, 192), .. options]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Stderr);

        string output = Path.Combine(_dir, "killed");
        string marker = Path.Combine(output + ".partial", "layer-0001.safetensors");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LowBitQuant.Cli.dll"));
        foreach (string a in Args(model, output, 12, 192).Concat(options))
        {
            psi.ArgumentList.Add(a);
        }

        using (var process = Process.Start(psi)!)
        {
            var watch = Stopwatch.StartNew();
            while (!File.Exists(marker) && !process.HasExited && watch.Elapsed < TimeSpan.FromSeconds(90))
            {
                Thread.Sleep(10);
            }

            Skip.If(process.HasExited, "The run finished before it could be killed (machine too fast for this size).");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        Assert.False(Directory.Exists(output));
        var resumed = CliRunner.Run([.. Args(model, output, 12, 192), .. options]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.True(JsonDocument.Parse(resumed.Stdout).RootElement.GetProperty("resumed_layers").GetInt32() >= 2);
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "model.safetensors")), File.ReadAllBytes(Path.Combine(output, "model.safetensors")));
    }

    [SkippableFact]
    public void ExistingOutputIsRefusedWithoutForce()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string output = Path.Combine(_dir, "exists");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");
        string line = CliRunner.AssertOneLineError(CliRunner.Run([.. Args(model, output, "--method", "rtn", "--bits", "4")]));
        Assert.Contains("--force", line);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));
    }

    [SkippableFact]
    public void GroupSizesTheFormatCannotHoldAreRefusedUpFrontNamingTheLayer()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string line = CliRunner.AssertOneLineError(CliRunner.Run([.. Args(model, Path.Combine(_dir, "g"), "--method", "dashq", "--bits", "2", "--group-size", "32", "--format", "dashq")]));
        Assert.Contains("model.layers.0.mlp.down_proj", line);
        Assert.Contains("172", line);
    }

    [SkippableFact]
    public void CalibrationTooShortIsAOneLineError()
    {
        string model = SharedData.Require("models/stories260K-hf");
        string tiny = Path.Combine(_dir, "tiny.txt");
        File.WriteAllText(tiny, "Once upon a time.");
        string line = CliRunner.AssertOneLineError(CliRunner.Run("quantize", "--model", model, "--calibration", tiny, "--method", "rtn", "--bits", "4", "--out", Path.Combine(_dir, "t"), "--samples", "4", "--sequence-length", "64"));
        Assert.Contains("too short", line);
    }
}
