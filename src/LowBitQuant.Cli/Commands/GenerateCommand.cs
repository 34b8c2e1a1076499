using System.CommandLine;
using LowBitQuant.Formats.Llama2c;

namespace LowBitQuant.Cli.Commands;

/// <summary><c>lowbitquant generate</c>: greedy decoding from BOS (optionally after a prompt), printed as text.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A llama2.c .bin file or a Hugging Face folder.", Required = true };
        var steps = new Option<int>("--steps") { Description = "Tokens to generate (stops early at EOS or the model's context).", DefaultValueFactory = _ => 64 };
        var prompt = new Option<string?>("--prompt") { Description = "Text to continue (after BOS)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2.c tokenizer file (default: beside the model)." };
        var command = new Command("generate", "Greedy decoding from BOS, printed as text.") { model, steps, prompt, tokenizer };
        command.SetAction(p => CommandRunner.Run(ct => Run(p.GetValue(model)!, p.GetValue(steps), p.GetValue(prompt), p.GetValue(tokenizer), ct)));
        return command;
    }

    private static int Run(string modelPath, int steps, string? prompt, string? tokenizerPath, CancellationToken ct)
    {
        if (steps < 0)
        {
            throw new ArgumentException($"--steps must not be negative (got {steps}).");
        }

        using LlamaModel model = LlamaModel.Open(modelPath);
        Llama2cTokenizer tok = EvalCommand.LoadTokenizer(modelPath, tokenizerPath, model.Config.VocabSize);
        int[] promptIds = tok.Encode(prompt ?? string.Empty, addBos: true, addEos: false);
        int[] generated = LlamaGenerator.GenerateGreedy(model, promptIds, steps, Llama2cTokenizer.EosId, ct);
        Console.WriteLine(tok.Decode([.. promptIds, .. generated]));
        return 0;
    }
}
