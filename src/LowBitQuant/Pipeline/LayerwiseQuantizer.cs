using System.Diagnostics;
using LowBitQuant.Internal;
using Microsoft.Extensions.Logging;

namespace LowBitQuant;

/// <summary>
/// Quantizes every linear of a Llama-family model block by block on real calibration activations: capture a block's inputs,
/// accumulate the statistics the quantizer needs (one estimator per distinct input), quantize, swap the dequantized weights in,
/// and feed the quantized block's outputs to the next block (GPTQ's model driver, arXiv 2210.17323 §4).
/// </summary>
/// <remarks>
/// The model's linear weights are replaced in place by their dequantized versions as the run proceeds, so after
/// <see cref="Run"/> the model evaluates the quantized network. Finished blocks are persisted atomically when
/// <see cref="LayerwiseOptions.ResumeDirectory"/> is set, and a later run with identical inputs resumes after them.
/// </remarks>
public static class LayerwiseQuantizer
{
    private static readonly LlamaTensor[][] TrueSequentialSubsets =
    [
        [LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection],
        [LlamaTensor.OutputProjection],
        [LlamaTensor.GateProjection, LlamaTensor.UpProjection],
        [LlamaTensor.DownProjection],
    ];

    /// <summary>Quantizes <paramref name="model"/> in place with <paramref name="calibration"/>.</summary>
    /// <exception cref="ArgumentException">A calibration sequence does not fit the model, or the quantizer rejects a layer (the message names it).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; finished blocks stay persisted.</exception>
    public static LayerwiseResult Run(LlamaModel model, CalibrationSet calibration, LayerwiseOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(options);
        if (options.SequencesPerChunk < 1)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), options.SequencesPerChunk, "SequencesPerChunk must be at least 1.");
        }

        var total = Stopwatch.StartNew();
        var config = model.Config;
        var chunks = calibration.Sequences.Chunk(options.SequencesPerChunk).Select(c => model.Prepare(c)).ToArray();
        var store = options.ResumeDirectory is null ? null : ResumeStore.Open(options.ResumeDirectory, Fingerprint(model, calibration, options));
        if (store?.Note is string note)
        {
            options.Logger?.LogInformation("{Note}", note);
        }

        var modules = new Dictionary<string, QuantizedTensor>();
        var reports = new List<ModuleReport>();
        var deferred = new List<(string Module, DenseMatrix Weights)>();
        var clock = new Timings();
        int resumed = 0;

        // HeRo-Q's transforms are folded into the full-precision weights, and its inner quantizer runs on the folded ones.
        var folding = options.Quantizer is HeroQQuantizer heroq ? new HeroQFolding(model, heroq, options.Logger) : null;
        var quantizer = folding?.Inner ?? options.Quantizer;
        if (folding?.Residual is not null && ResidualRotationHelps(model, folding, chunks, options, clock, cancellationToken))
        {
            folding.RotateResidual();
        }

        float[][] x = Time(ref clock.Forward, () => chunks.Select(model.Embed).ToArray());
        for (int layer = 0; layer < config.Layers; layer++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (store?.TryLoad(layer, model.Config) is { } saved)
            {
                if (folding is not null)
                {
                    folding.Apply(layer, saved.Fold ?? throw new InvalidDataException($"The resumed block {layer} has no HeRo-Q transforms; delete '{options.ResumeDirectory}' and start again."));
                }

                foreach (var (module, tensor, report) in saved.Modules)
                {
                    modules[module] = tensor;
                    reports.Add(report);
                    ApplyOrDefer(model, options, deferred, module, tensor.Dequantize());
                }

                resumed++;
            }
            else
            {
                BlockFold? fold = null;
                if (folding is not null)
                {
                    // Every transform of the block is chosen on its full-precision inputs, then folded before anything is quantized
                    // (v_proj must absorb o_proj's transform before v_proj itself is quantized).
                    var inputs = Capture(model, layer, [.. LlamaConfig.LinearTensors], HessianKind.Full, chunks, x, options, clock, cancellationToken);
                    fold = Time(ref clock.Quantizer, () => folding.Choose(layer, inputs, options.Compute, cancellationToken));
                    folding.Apply(layer, fold);
                    options.Logger?.LogInformation("Block {Layer} HeRo-Q transforms: {Summary}", layer, fold.Summary);
                }

                var subsets = options.TrueSequential ? TrueSequentialSubsets : [[.. LlamaConfig.LinearTensors]];
                var finished = new List<(string, QuantizedTensor, ModuleReport)>();
                foreach (var subset in subsets)
                {
                    var estimates = Capture(model, layer, subset, quantizer.RequiredHessian, chunks, x, options, clock, cancellationToken);
                    foreach (var tensorKind in subset)
                    {
                        string module = config.GetModuleName(tensorKind, layer);
                        var (quantized, dequantized, report) = QuantizeModule(model, module, estimates[InputOf(tensorKind)], quantizer, fold, options, clock, cancellationToken);
                        modules[module] = quantized;
                        reports.Add(report);
                        finished.Add((module, quantized, report));
                        ApplyOrDefer(model, options, deferred, module, dequantized);
                        options.Progress?.Report(new LayerwiseProgress(layer, config.Layers, module, report, total.Elapsed));
                    }
                }

                store?.Save(layer, finished, fold, cancellationToken);
            }

            Propagate(model, layer, chunks, x, clock);
            options.Progress?.Report(new LayerwiseProgress(layer, config.Layers, null, null, total.Elapsed));
        }

        foreach (var (module, weights) in deferred)
        {
            model.ReplaceLinearWeights(module, weights);
        }

        return new LayerwiseResult(modules, reports, resumed, store?.Note, folding?.Weights ?? model.Source,
            new LayerwiseTimings(clock.Forward, clock.Hessian, clock.Quantizer, total.Elapsed.TotalSeconds));
    }

    /// <summary>
    /// One full-precision pass over the blocks scoring HeRo-Q's residual rotation R₁ against none (<see cref="HeroQFolding.ScoreResidual"/>);
    /// true when R₁ lowers the summed proxy loss. The decision is logged and deterministic, so a resumed run makes the same one.
    /// </summary>
    private static bool ResidualRotationHelps(LlamaModel model, HeroQFolding folding, LlamaBatch[] chunks, LayerwiseOptions options, Timings clock, CancellationToken ct)
    {
        double plain = 0, rotated = 0;
        float[][] x = Time(ref clock.Forward, () => chunks.Select(model.Embed).ToArray());
        for (int layer = 0; layer < model.Config.Layers; layer++)
        {
            var inputs = Capture(model, layer, [.. LlamaConfig.LinearTensors], HessianKind.Full, chunks, x, options, clock, ct);
            var (p, r) = Time(ref clock.Quantizer, () => folding.ScoreResidual(layer, inputs, options.Compute, ct));
            plain += p;
            rotated += r;
            Propagate(model, layer, chunks, x, clock);
        }

        bool helps = rotated < plain;
        folding.ResidualNote = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"residual rotation {(helps ? "kept" : "rejected")}: summed proxy loss {rotated:G6} with it, {plain:G6} without");
        options.Logger?.LogInformation("HeRo-Q {Note}", folding.ResidualNote);
        return helps;
    }

    /// <summary>Runs block <paramref name="layer"/> on every chunk's residual stream, feeding the next block.</summary>
    private static void Propagate(LlamaModel model, int layer, LlamaBatch[] chunks, float[][] x, Timings clock) =>
        Time(ref clock.Forward, () =>
        {
            for (int c = 0; c < chunks.Length; c++)
            {
                model.RunBlock(layer, x[c], chunks[c]);
            }

            return 0;
        });

    /// <summary>Which modules share an input: q/k/v read the attention-norm output, gate/up the FFN-norm output.</summary>
    private static int InputOf(LlamaTensor tensor) => tensor switch
    {
        LlamaTensor.QueryProjection or LlamaTensor.KeyProjection or LlamaTensor.ValueProjection => 0,
        LlamaTensor.OutputProjection => 1,
        LlamaTensor.GateProjection or LlamaTensor.UpProjection => 2,
        _ => 3,
    };

    /// <summary>Runs block <paramref name="layer"/> on a copy of the residual stream and accumulates each distinct input of <paramref name="subset"/>.</summary>
    private static Dictionary<int, HessianEstimate> Capture(LlamaModel model, int layer, LlamaTensor[] subset, HessianKind required, LlamaBatch[] chunks, float[][] x, LayerwiseOptions options, Timings clock, CancellationToken ct)
    {
        var estimators = new Dictionary<int, IHessianEstimator>();
        foreach (var t in subset)
        {
            int input = InputOf(t);
            if (!estimators.ContainsKey(input))
            {
                int columns = model.Config.GetShape(t).Columns;
                estimators[input] = HessianEstimator.Create(StatisticsKind(required, columns), columns, options.Compute);
            }
        }

        // The block runs only until the subset's last input (in block order) has been observed, not through the rest.
        int lastInput = InputOf(LlamaConfig.LinearTensors.Last(subset.Contains));
        var stop = LlamaConfig.LinearTensors.First(t => InputOf(t) == lastInput);
        var observer = new CaptureObserver(layer, subset, estimators, clock);
        var previous = model.LinearInputObserver;
        model.LinearInputObserver = observer;
        try
        {
            for (int c = 0; c < chunks.Length; c++)
            {
                ct.ThrowIfCancellationRequested();
                var copy = (float[])x[c].Clone();
                var watch = Stopwatch.StartNew();
                model.RunBlock(layer, copy, chunks[c], stopAtInputOf: stop);
                clock.Forward += watch.Elapsed.TotalSeconds - observer.EndChunk();
            }
        }
        finally
        {
            model.LinearInputObserver = previous;
        }

        var result = new Dictionary<int, HessianEstimate>();
        foreach (var (input, estimator) in estimators)
        {
            result[input] = Time(ref clock.Hessian, estimator.Build);
            estimator.Dispose();
        }

        return result;
    }

    /// <summary>The statistics to accumulate: what the quantizer needs, and the full H for small layers so reports use the exact loss.</summary>
    private static HessianKind StatisticsKind(HessianKind required, int columns) =>
        required == HessianKind.Full || columns <= 4096 ? HessianKind.Full : HessianKind.Diagonal;

    private static (QuantizedTensor, DenseMatrix, ModuleReport) QuantizeModule(LlamaModel model, string module, HessianEstimate statistics, IQuantizer quantizer, BlockFold? fold, LayerwiseOptions options, Timings clock, CancellationToken ct)
    {
        var weights = model.GetLinearWeights(module);
        HessianEstimate? hessian = quantizer.RequiredHessian switch
        {
            HessianKind.None => null,
            HessianKind.Diagonal => statistics.ToDiagonal(),
            _ => statistics,
        };

        var watch = Stopwatch.StartNew();
        QuantizedTensor quantized;
        try
        {
            quantized = quantizer.Quantize(weights, hessian, options.Compute, ct);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"Module '{module}' [{weights.Rows} × {weights.Columns}] could not be quantized: {ex.Message}", nameof(options), ex);
        }

        double seconds = watch.Elapsed.TotalSeconds;
        clock.Quantizer += seconds;
        if (fold is not null)
        {
            var inner = quantized.Diagnostics;
            quantized = quantized.WithDiagnostics(inner with
            {
                Method = $"heroq({inner.Method})",
                Notes = [.. inner.Notes, $"quantized in the block's folded HeRo-Q basis: {fold.Summary}"],
            });
        }

        var dequantized = quantized.Dequantize();
        var (loss, relative) = QuantizationError.Measure(weights, dequantized.Data.Span, statistics);
        var d = quantized.Diagnostics;
        if (d.Fallback is string fallback)
        {
            options.Logger?.LogWarning("{Module}: {Fallback}", module, fallback);
        }

        return (quantized, dequantized, new ModuleReport
        {
            Module = module,
            Method = d.Method,
            Bits = quantized.Scheme.Bits,
            GroupSize = quantized.Scheme.GroupSize,
            Rows = quantized.Rows,
            Columns = quantized.Columns,
            Tokens = statistics.SampleCount,
            ProxyLoss = loss,
            RelativeOutputError = relative,
            FullHessian = statistics.Kind == HessianKind.Full,
            Damping = d.Damping,
            Fallback = d.Fallback,
            Seconds = seconds,
        });
    }

    private static void ApplyOrDefer(LlamaModel model, LayerwiseOptions options, List<(string, DenseMatrix)> deferred, string module, DenseMatrix weights)
    {
        // One-pass mode keeps full-precision activations throughout: swap the weights in only at the end.
        if (options.TrueSequential)
        {
            model.ReplaceLinearWeights(module, weights);
        }
        else
        {
            deferred.Add((module, weights));
        }
    }

    private static string Fingerprint(LlamaModel model, CalibrationSet calibration, LayerwiseOptions options) =>
        string.Join('\n',
            $"library={typeof(LayerwiseQuantizer).Assembly.GetName().Version}",
            $"model={ModelFingerprint.Compute(model.Source)}",
            $"calibration={calibration.Fingerprint}",
            $"quantizer={options.Quantizer.GetType().Name};{options.Quantizer.Scheme};required={options.Quantizer.RequiredHessian}",
            options.Quantizer is HeroQQuantizer h
                ? $"heroq={h.Inner.GetType().Name};alphas={string.Join(',', h.Options.Alphas.Select(a => a.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))};rotation={h.Options.UseRotation};seed={h.Options.Seed};fallback={h.Options.RotationFallback}"
                : "heroq=none",
            $"true_sequential={options.TrueSequential}",
            $"options={options.OptionsDescription}");

    private static T Time<T>(ref double seconds, Func<T> work)
    {
        var watch = Stopwatch.StartNew();
        T result = work();
        seconds += watch.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Mutable time totals of one run.</summary>
    private sealed class Timings
    {
        public double Forward;
        public double Hessian;
        public double Quantizer;
    }

    /// <summary>Feeds the inputs of the subset's modules (once per distinct input) to their estimators.</summary>
    private sealed class CaptureObserver(int layer, LlamaTensor[] subset, Dictionary<int, IHessianEstimator> estimators, Timings clock) : ILinearInputObserver
    {
        private readonly HashSet<int> _seen = [];
        private double _hessianSeconds;

        /// <summary>Ends a chunk: returns the seconds spent accumulating during it, and forgets which inputs it saw.</summary>
        public double EndChunk()
        {
            double s = _hessianSeconds;
            _hessianSeconds = 0;
            _seen.Clear();
            return s;
        }

        public void OnLinearInput(int blockLayer, string moduleName, LlamaTensor tensor, DenseMatrix activations)
        {
            if (blockLayer != layer || Array.IndexOf(subset, tensor) < 0 || !_seen.Add(InputOf(tensor)))
            {
                return;
            }

            var watch = Stopwatch.StartNew();
            estimators[InputOf(tensor)].Accumulate(activations.Data.Span);
            double s = watch.Elapsed.TotalSeconds;
            _hessianSeconds += s;
            clock.Hessian += s;
        }
    }
}
