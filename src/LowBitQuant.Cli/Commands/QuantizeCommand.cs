using System.CommandLine;
using System.Text.Json;
using LowBitQuant.Formats.Checkpoints;
using LowBitQuant.Formats.Llama2c;
using Spectre.Console;

namespace LowBitQuant.Cli.Commands;

/// <summary>
/// <c>lowbitquant quantize</c>: the main job. Calibrates on text, quantizes every decoder linear layer by layer, writes a checkpoint
/// other tools load, and (with <c>--eval</c>) measures what the written checkpoint still knows.
/// </summary>
internal static class QuantizeCommand
{
    private static readonly string[] Formats = ["gptq", "dashq", "compressed-tensors", "none"];

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model: a Hugging Face folder (config.json + safetensors) or a llama2.c .bin.", Required = true };
        var calibration = new Option<string[]>("--calibration") { Description = "Calibration text files or folders (*.txt).", Required = true, AllowMultipleArgumentsPerToken = true };
        var method = new Option<string>("--method") { Description = "rtn, gptq, dashq or heroq.", Required = true };
        var inner = new Option<string?>("--inner") { Description = "HeRo-Q: inner quantizer (rtn, gptq, dashq)." };
        var bits = new Option<int>("--bits") { Description = "Bits per weight.", Required = true };
        var groupSize = new Option<int>("--group-size") { Description = "Columns per group; 0 = one group per row.", DefaultValueFactory = _ => 128 };
        var sym = new Option<bool>("--sym") { Description = "Symmetric grid." };
        var actOrder = new Option<bool>("--act-order") { Description = "GPTQ: act-order." };
        var staticGroups = new Option<bool>("--static-groups") { Description = "GPTQ with --act-order: groups in original order." };
        var damp = new Option<double?>("--damp") { Description = "GPTQ: damping fraction (default 0.01)." };
        var samples = new Option<int>("--samples") { Description = "Calibration sequences N.", DefaultValueFactory = _ => 128 };
        var length = new Option<int?>("--sequence-length") { Description = "Tokens per calibration sequence L (default: the model's context, at most 2048)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the calibration sampler.", DefaultValueFactory = _ => 0 };
        var onePass = new Option<bool>("--one-pass") { Description = "Full-precision activations throughout (faster; default is true-sequential)." };
        var format = new Option<string>("--format") { Description = "gptq, dashq, compressed-tensors, or none (report and --eval only).", DefaultValueFactory = _ => "gptq" };
        var output = new Option<string?>("--out") { Description = "Output folder (required unless --format none)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing output folder." };
        var evalText = new Option<string[]>("--eval") { Description = "Held-out text files: report perplexity, KL and top-1 agreement of the written checkpoint against the original.", AllowMultipleArgumentsPerToken = true };
        var evalTokens = new Option<int?>("--eval-tokens") { Description = "Tokens per --eval file (default: all)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2.c tokenizer file (default: found beside the model)." };
        var noRotation = new Option<bool>("--no-rotation") { Description = "HeRo-Q: diagonal smoothing only (no residual-stream or per-head Hadamard rotation)." };
        var search = new Option<bool>("--search") { Description = "Search the grid range first (RTN/GPTQ clip search, DASH-Q range candidates)." };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON." };
        var command = new Command("quantize", "Quantize a whole Llama-family checkpoint layer by layer on calibration text and write a checkpoint (resumable).")
        {
            model, calibration, method, inner, bits, groupSize, sym, actOrder, staticGroups, damp, samples, length, seed, onePass, format, output, force, evalText, evalTokens, tokenizer, search, noRotation, json,
        };
        command.SetAction(p => CommandRunner.Run(ct =>
        {
            int g = p.GetValue(groupSize);
            if (g < 0)
            {
                throw new ArgumentException($"--group-size must be 0 (one group per row) or positive, got {g}.");
            }

            var request = new QuantizeRequest(
                p.GetValue(model)!, p.GetValue(calibration) ?? [], new MethodOptions(p.GetValue(method)!, new QuantizationScheme(p.GetValue(bits), g == 0 ? null : g, p.GetValue(sym)))
                {
                    ActOrder = p.GetValue(actOrder),
                    StaticGroups = p.GetValue(staticGroups),
                    Damping = p.GetValue(damp),
                    Inner = p.GetValue(inner),
                    Search = p.GetValue(search),
                    Rotation = !p.GetValue(noRotation),
                    IntegerZeros = p.GetValue(format) is "gptq" or "compressed-tensors",
                },
                p.GetValue(samples), p.GetValue(length), p.GetValue(seed), !p.GetValue(onePass), p.GetValue(format)!.ToLowerInvariant(), p.GetValue(output), p.GetValue(force),
                p.GetValue(evalText) ?? [], p.GetValue(evalTokens), p.GetValue(tokenizer), p.GetValue(json));
            return Run(request, ct);
        }));
        return command;
    }

    private static int Run(QuantizeRequest r, CancellationToken ct)
    {
        if (!Formats.Contains(r.Format))
        {
            throw new ArgumentException($"Unknown --format '{r.Format}'; expected one of {string.Join(", ", Formats)}.");
        }

        if (r.Format != "none" && string.IsNullOrEmpty(r.Output))
        {
            throw new ArgumentException("--out is required unless --format none.");
        }

        if (r.Calibration.Length == 0)
        {
            throw new ArgumentException("--calibration needs at least one text file or folder.");
        }

        string? partial = r.Output is null ? null : Path.GetFullPath(r.Output).TrimEnd(Path.DirectorySeparatorChar) + ".partial";
        if (r.Output is not null && CheckpointDirectory.IsNonEmptyDirectory(r.Output) && !r.Force)
        {
            throw new IOException($"Output folder '{r.Output}' exists and is not empty; pass --force to replace it.");
        }

        var quantizer = QuantizerFactory.Create(r.Method);
        using var model = LlamaModel.Open(r.Model);
        var config = model.Config;
        var checkpointFormat = r.Format switch
        {
            "gptq" => QuantizedCheckpointFormat.Gptq,
            "dashq" => QuantizedCheckpointFormat.DashQ,
            "compressed-tensors" => QuantizedCheckpointFormat.CompressedTensors,
            _ => (QuantizedCheckpointFormat?)null,
        };
        CheckFormatFits(config, r.Method, checkpointFormat);

        var tok = EvalCommand.LoadTokenizer(r.Model, r.Tokenizer, config.VocabSize);
        int sequenceLength = r.SequenceLength ?? Math.Min(config.MaxSequenceLength, 2048);
        if (sequenceLength > config.MaxSequenceLength)
        {
            throw new ArgumentException($"--sequence-length {sequenceLength} exceeds the model's context of {config.MaxSequenceLength} tokens.");
        }

        var calibration = CalibrationSet.FromFiles(r.Calibration, t => tok.Encode(t, addBos: false, addEos: false), r.Samples, sequenceLength, r.Seed, Llama2cTokenizer.BosId);
        var options = new LayerwiseOptions(quantizer)
        {
            TrueSequential = r.TrueSequential,
            ResumeDirectory = partial,
            OptionsDescription = $"{r.Method}",
        };

        LayerwiseResult result = r.Json ? LayerwiseQuantizer.Run(model, calibration, options, ct) : RunWithProgress(model, calibration, options, ct);
        if (result.ResumeNote is string note && !r.Json)
        {
            Console.Error.WriteLine(note);
        }

        QuantizedCheckpointSummary? summary = null;
        if (checkpointFormat is QuantizedCheckpointFormat f)
        {
            string reportFile = Path.Combine(partial!, "quantization_report.json");
            File.WriteAllText(reportFile, JsonSerializer.Serialize(result.Reports, CliJson.Options));
            var extra = new List<string> { reportFile };
            extra.AddRange(TokenizerFiles(r.Model, r.Tokenizer, config.VocabSize));
            summary = QuantizedCheckpointWriter.Write(result.Weights, result.Modules, f, r.Output!, new QuantizedCheckpointOptions
            {
                Method = result.Reports[0].Method,
                ExtraFiles = extra,
                Overwrite = r.Force,
                BosTokenId = Llama2cTokenizer.BosId,
                EosTokenId = Llama2cTokenizer.EosId,
                DampPercent = r.Method.Method.Equals("gptq", StringComparison.OrdinalIgnoreCase) ? result.Reports.Max(m => m.Damping) ?? r.Method.Damping ?? 0.01 : null,
                TrueSequential = r.TrueSequential,
                StaticGroups = r.Method.StaticGroups,
            }, ct);
            Directory.Delete(partial!, recursive: true);
        }

        // Modules the format could not hold are full precision on disk (HeRo-Q's folded weights where it ran): make the in-memory
        // model match before comparing.
        foreach (var excluded in summary?.ExcludedModules ?? [])
        {
            config.TryParseModuleName(excluded.Name, out int layer, out var tensor);
            var (rows, columns) = config.GetShape(tensor);
            var original = new float[rows * columns];
            result.Weights.ReadTensor(tensor, layer, original);
            model.ReplaceLinearWeights(excluded.Name, new DenseMatrix(original, rows, columns));
        }

        var (evaluation, reloadMatches) = r.Eval.Length == 0 ? (null, null) : Evaluate(r, tok, summary?.Directory, model, ct);
        Print(r, calibration, result, summary, evaluation, reloadMatches);
        return 0;
    }

    /// <summary>Group sizes the chosen format cannot hold for some module are refused before any work, naming the module.</summary>
    private static void CheckFormatFits(LlamaConfig config, MethodOptions method, QuantizedCheckpointFormat? format)
    {
        if (format is null)
        {
            return;
        }

        if (format == QuantizedCheckpointFormat.Gptq || method.Scheme.GroupSize is not int g)
        {
            return;
        }

        foreach (var tensor in LlamaConfig.LinearTensors)
        {
            int columns = config.GetShape(tensor).Columns;
            if (columns % g != 0)
            {
                throw new ArgumentException($"--group-size {g} does not divide the {columns} input channels of {config.GetModuleName(tensor, 0)} (and the same module of every layer); " +
                    $"the {format} format needs whole groups. Use --group-size 0 (one group per row) or a divisor of {columns}.");
            }
        }
    }

    private static IEnumerable<string> TokenizerFiles(string modelPath, string? tokenizer, int vocabSize)
    {
        if ((tokenizer ?? LlamaCheckpoint.FindLlama2cTokenizer(modelPath, vocabSize)) is string tok)
        {
            yield return tok;
        }

        if (Directory.Exists(modelPath))
        {
            foreach (string name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json" })
            {
                string path = Path.Combine(modelPath, name);
                if (File.Exists(path))
                {
                    yield return path;
                }
            }
        }
    }

    /// <summary>Evaluates the original model against the written checkpoint (reloaded from disk), or against the in-memory result when nothing was written.</summary>
    /// <remarks>When a checkpoint was written, the in-memory result is evaluated too and must give the identical figures.</remarks>
    private static (EvaluationResult, bool?) Evaluate(QuantizeRequest r, Llama2cTokenizer tok, string? written, LlamaModel quantizedInMemory, CancellationToken ct)
    {
        using var original = LlamaModel.Open(r.Model);
        using var reloaded = written is null ? null : LlamaModel.Open(written);
        var documents = r.Eval.Select(f => File.Exists(f) ? tok.Encode(File.ReadAllText(f), addBos: false, addEos: false) : throw new FileNotFoundException($"Evaluation text '{f}' not found.", f)).ToArray();
        var options = new EvaluationOptions { MaxTokensPerDocument = r.EvalTokens, BosTokenId = Llama2cTokenizer.BosId };
        var inMemory = LlamaEvaluator.Evaluate(original, documents, options, quantizedInMemory, null, ct);
        if (reloaded is null)
        {
            return (inMemory, null);
        }

        var fromDisk = LlamaEvaluator.Evaluate(original, documents, options, reloaded, null, ct);

        // Same layout: bit-identical. A llama2.c source is written in the Hugging Face q/k layout (rows permuted, other RoPE
        // convention): the same mathematics in another float summation order, so allow float rounding there.
        bool sameLayout = reloaded.Config.RopeConvention == quantizedInMemory.Config.RopeConvention;
        double tolerance = sameLayout ? 0 : 1e-6;
        static bool Close(double? a, double? b, double tol) => a == b || (a is double x && b is double y && Math.Abs(x - y) <= tol * Math.Max(1, Math.Abs(x)));
        return (fromDisk, Close(fromDisk.QuantizedMeanNll, inMemory.QuantizedMeanNll, tolerance) && Close(fromDisk.MeanKlDivergence, inMemory.MeanKlDivergence, tolerance)
            && Close(fromDisk.Top1Agreement, inMemory.Top1Agreement, sameLayout ? 0 : 1e-3));
    }

    private static LayerwiseResult RunWithProgress(LlamaModel model, CalibrationSet calibration, LayerwiseOptions options, CancellationToken ct)
    {
        LayerwiseResult? result = null;
        int modulesPerLayer = LlamaConfig.LinearTensors.Count;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var overall = ctx.AddTask($"{model.Config.Layers} blocks", maxValue: model.Config.Layers * modulesPerLayer);
                ProgressTask? layerTask = null;
                var progress = new InlineProgress(p =>
                {
                    layerTask ??= ctx.AddTask($"block {p.Layer}", maxValue: modulesPerLayer);
                    if (p.Module is null)
                    {
                        overall.Value = (p.Layer + 1) * modulesPerLayer;
                        layerTask.Value = modulesPerLayer;
                        layerTask.StopTask();
                        layerTask = null;
                    }
                    else
                    {
                        layerTask.Increment(1);
                        layerTask.Description = $"block {p.Layer}: {p.Module.Split('.')[^1]}";
                        overall.Increment(1);
                    }
                });
                result = LayerwiseQuantizer.Run(model, calibration, options with { Progress = progress }, ct);
            });
        return result!;
    }

    private static void Print(QuantizeRequest r, CalibrationSet calibration, LayerwiseResult result, QuantizedCheckpointSummary? summary, EvaluationResult? evaluation, bool? reloadMatches)
    {
        var output = new
        {
            Model = r.Model,
            Method = result.Reports[0].Method,
            r.Method.Scheme.Bits,
            GroupSize = r.Method.Scheme.GroupSize ?? 0,
            Samples = calibration.Sequences.Count,
            calibration.SequenceLength,
            Format = summary?.FormatLabel ?? "none",
            Output = summary?.Directory,
            Excluded = summary?.ExcludedModules.Select(e => new { e.Name, e.Reason }).ToArray() ?? [],
            result.ResumedLayers,
            Timings = result.Timings,
            PeakWorkingSetBytes = System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64,
            TotalProxyLoss = result.Reports.Sum(m => m.ProxyLoss),
            Evaluation = evaluation is null ? null : new
            {
                evaluation.TokensScored,
                evaluation.MeanNll,
                evaluation.Perplexity,
                evaluation.QuantizedMeanNll,
                evaluation.QuantizedPerplexity,
                evaluation.MeanKlDivergence,
                evaluation.Top1Agreement,
                ReloadMatchesInMemory = reloadMatches,
            },
            Modules = result.Reports,
        };
        if (r.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(output, CliJson.Options));
            return;
        }

        var table = new Table().Title($"{output.Method}, {r.Method.Scheme}, {calibration.Sequences.Count} × {calibration.SequenceLength} calibration tokens")
            .AddColumns("module", "shape", "proxy loss", "rel. output error", "damping", "s");
        foreach (var m in result.Reports)
        {
            table.AddRow(Markup.Escape(m.Module), $"{m.Rows}×{m.Columns}", m.ProxyLoss.ToString("G4"), m.RelativeOutputError.ToString("P2"), m.Damping?.ToString("G3") ?? "", m.Seconds.ToString("F2"));
        }

        AnsiConsole.Write(table);
        var t = result.Timings;
        Console.WriteLine($"time: forward {t.ForwardSeconds:F1} s, Hessian {t.HessianSeconds:F1} s, quantizer {t.QuantizerSeconds:F1} s, total {t.TotalSeconds:F1} s; peak memory {output.PeakWorkingSetBytes / 1048576.0:F0} MiB");
        if (summary is not null)
        {
            Console.WriteLine($"wrote {summary.FormatLabel} checkpoint to {summary.Directory} ({summary.QuantizedModules.Count} quantized modules)");
            foreach (var e in summary.ExcludedModules)
            {
                Console.WriteLine($"  kept in full precision: {e.Name} ({e.Reason})");
            }
        }

        if (evaluation is not null)
        {
            Console.WriteLine($"eval on {evaluation.TokensScored} held-out tokens: perplexity {evaluation.Perplexity:F3} → {evaluation.QuantizedPerplexity:F3}, " +
                $"mean KL {evaluation.MeanKlDivergence:G4}, top-1 agreement {evaluation.Top1Agreement:P2}" +
                (reloadMatches is bool same ? (same ? " (reloaded checkpoint identical to the in-memory result)" : " (WARNING: reloaded checkpoint differs from the in-memory result)") : " (in memory, nothing written)"));
        }
    }

    private sealed record QuantizeRequest(
        string Model, string[] Calibration, MethodOptions Method, int Samples, int? SequenceLength, int Seed, bool TrueSequential, string Format,
        string? Output, bool Force, string[] Eval, int? EvalTokens, string? Tokenizer, bool Json);

    /// <summary>Reports on the caller's thread, so Spectre's live display is updated in order.</summary>
    private sealed class InlineProgress(Action<LayerwiseProgress> report) : IProgress<LayerwiseProgress>
    {
        public void Report(LayerwiseProgress value) => report(value);
    }
}
