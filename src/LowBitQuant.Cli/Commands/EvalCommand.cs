using System.CommandLine;
using System.Text.Json;
using LowBitQuant.Formats.Llama2c;
using Spectre.Console;

namespace LowBitQuant.Cli.Commands;

/// <summary>
/// <c>lowbitquant eval</c>: perplexity of a model on text files over non-overlapping windows (each window starts with BOS), and,
/// with <c>--quantized</c>, mean KL divergence and top-1 agreement of a second model against the first.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Full-precision model: a llama2.c .bin file or a Hugging Face folder (config.json + safetensors).", Required = true };
        var quantized = new Option<string?>("--quantized") { Description = "A second model to compare with --model (e.g. a Hugging Face folder with dequantized weights)." };
        var text = new Option<string[]>("--text") { Description = "Text files to score; each is one document.", Required = true, AllowMultipleArgumentsPerToken = true };
        var context = new Option<int?>("--context") { Description = "Window length in tokens, BOS included (default: the model's context)." };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Score only the first N text tokens of each file." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2.c tokenizer file (default: tok{vocab}.bin or tokenizer.bin beside the model)." };
        var batch = new Option<int>("--batch") { Description = "Windows per forward pass.", DefaultValueFactory = _ => 4 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var command = new Command("eval", "Perplexity of a model on text files; with --quantized, also KL divergence and top-1 agreement against it.")
        {
            model, quantized, text, context, maxTokens, tokenizer, batch, json,
        };
        command.SetAction(p => CommandRunner.Run(ct => Run(
            p.GetValue(model)!, p.GetValue(quantized), p.GetValue(text)!, p.GetValue(context), p.GetValue(maxTokens), p.GetValue(tokenizer), p.GetValue(batch), p.GetValue(json), ct)));
        return command;
    }

    private static int Run(string modelPath, string? quantizedPath, string[] texts, int? context, int? maxTokens, string? tokenizerPath, int batch, bool json, CancellationToken ct)
    {
        if (texts.Length == 0)
        {
            throw new ArgumentException("--text needs at least one file.");
        }

        using LlamaModel model = LlamaModel.Open(modelPath);
        using LlamaModel? quantized = quantizedPath is null ? null : LlamaModel.Open(quantizedPath);
        Llama2cTokenizer tok = LoadTokenizer(modelPath, tokenizerPath, model.Config.VocabSize);
        var documents = new List<int[]>();
        foreach (string file in texts)
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"Text file '{file}' not found.", file);
            }

            documents.Add(tok.Encode(File.ReadAllText(file), addBos: false, addEos: false));
        }

        var options = new EvaluationOptions { ContextLength = context, MaxTokensPerDocument = maxTokens, BosTokenId = Llama2cTokenizer.BosId, BatchSize = batch };
        IProgress<EvaluationProgress>? progress = json ? null : new ConsoleProgress();
        EvaluationResult r = LlamaEvaluator.Evaluate(model, documents, options, quantized, progress, ct);
        if (!json)
        {
            Console.Error.WriteLine();
        }

        var output = new EvalOutput(
            modelPath, quantizedPath, texts, options.ContextLength ?? model.Config.MaxSequenceLength, maxTokens, r.TokensScored, r.Windows,
            r.MeanNll, r.Perplexity, r.QuantizedMeanNll, r.QuantizedPerplexity, r.MeanKlDivergence, r.Top1Agreement, r.Elapsed.TotalSeconds, r.TokensPerSecond);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(output, CliJson.Options));
            return 0;
        }

        var table = new Table().Title($"lowbitquant eval: {texts.Length} file(s), {r.TokensScored} tokens scored in {r.Windows} windows of ≤ {output.Context}")
            .AddColumns("measure", "value");
        table.AddRow("mean NLL (nats)", r.MeanNll.ToString("F4"));
        table.AddRow("perplexity", r.Perplexity.ToString("F3"));
        if (quantized is not null)
        {
            table.AddRow("quantized mean NLL", r.QuantizedMeanNll!.Value.ToString("F4"));
            table.AddRow("quantized perplexity", r.QuantizedPerplexity!.Value.ToString("F3"));
            table.AddRow("mean KL(fp ‖ quantized)", r.MeanKlDivergence!.Value.ToString("G4"));
            table.AddRow("top-1 agreement", r.Top1Agreement!.Value.ToString("P2"));
        }

        table.AddRow("time (s)", r.Elapsed.TotalSeconds.ToString("F2"));
        table.AddRow("tokens/s", r.TokensPerSecond.ToString("F0"));
        AnsiConsole.Write(table);
        return 0;
    }

    internal static Llama2cTokenizer LoadTokenizer(string modelPath, string? tokenizerPath, int vocabSize)
    {
        string path = tokenizerPath ?? LlamaCheckpoint.FindLlama2cTokenizer(modelPath, vocabSize)
            ?? throw new FileNotFoundException($"No tokenizer found beside '{modelPath}' (looked for tok{vocabSize}.bin and tokenizer.bin); pass --tokenizer.");
        return Llama2cTokenizer.Load(path, vocabSize);
    }

    private sealed class ConsoleProgress : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) =>
            Console.Error.Write($"\r{value.TokensScored}/{value.TotalTokens} tokens scored, {value.TokensPerSecond:F0} tokens/s   ");
    }

    private sealed record EvalOutput(
        string Model, string? Quantized, string[] Texts, int Context, int? MaxTokens, long TokensScored, int Windows, double MeanNll, double Perplexity,
        double? QuantizedMeanNll, double? QuantizedPerplexity, double? MeanKlDivergence, double? Top1Agreement, double Seconds, double TokensPerSecond);
}
