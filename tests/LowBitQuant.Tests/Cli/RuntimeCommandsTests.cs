using System.CommandLine;
using System.Text.Json;
using LowBitQuant.Cli.Commands;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Cli;

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection
{
}

[Collection("Console")]
public class RuntimeCommandsTests
{
    private static (int Exit, string Out, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand("test") { EvalCommand.Create(), GenerateCommand.Create() };
        TextWriter oldOut = Console.Out, oldErr = Console.Error;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int exit = root.Parse(args).Invoke();
            return (exit, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [SkippableFact]
    public void GeneratePrintsTheKnownStory()
    {
        string model = SharedData.Require("models/stories260K/stories260K.bin");
        (int exit, string output, _) = Invoke("generate", "--model", model, "--steps", "40");
        Assert.Equal(0, exit);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", output);
    }

    [SkippableFact]
    public void EvalJsonReportsPerplexityAndComparison()
    {
        string model = SharedData.Require("models/stories260K/stories260K.bin");
        string hf = SharedData.Require("models/stories260K-hf");
        string text = SharedData.Require("corpora/janeausten/northangerabbey.txt");
        (int exit, string output, string err) = Invoke("eval", "--model", model, "--quantized", hf, "--text", text, "--context", "100", "--max-tokens", "198", "--json");
        Assert.True(exit == 0, err);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement r = doc.RootElement;
        Assert.Equal(198, r.GetProperty("tokens_scored").GetInt64());
        Assert.Equal(2, r.GetProperty("windows").GetInt32());
        double nll = r.GetProperty("mean_nll").GetDouble();
        Assert.Equal(Math.Exp(nll), r.GetProperty("perplexity").GetDouble(), 1e-9);
        Assert.Equal(nll, r.GetProperty("quantized_mean_nll").GetDouble(), 1e-4); // same model, other layout
        Assert.True(r.GetProperty("mean_kl_divergence").GetDouble() < 1e-6);
        Assert.Equal(1.0, r.GetProperty("top1_agreement").GetDouble());
    }

    [SkippableFact]
    public void EvalFailsWithOneLineForMissingFilesAndShortText()
    {
        string model = SharedData.Require("models/stories260K/stories260K.bin");
        (int exit, _, string err) = Invoke("eval", "--model", model, "--text", "/nonexistent/file.txt", "--json");
        Assert.Equal(2, exit);
        Assert.Contains("/nonexistent/file.txt", err);

        string empty = Path.GetTempFileName();
        try
        {
            (exit, _, err) = Invoke("eval", "--model", model, "--text", empty, "--json");
            Assert.Equal(2, exit);
            Assert.Contains("at least two tokens", err);
        }
        finally
        {
            File.Delete(empty);
        }
    }
}
