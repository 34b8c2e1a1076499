using System.Diagnostics;
using System.Globalization;

namespace LowBitQuant.Benchmarks.Models;

/// <summary>
/// Not a BenchmarkDotNet class: a one-shot run of the layer-wise pipeline (<see cref="LayerwiseQuantizer"/>, true-sequential GPTQ,
/// 3 bits, group 128) on one synthetic 8B-shaped decoder block (hidden 4096, feed-forward 14336, GQA 32/8) with seeded random
/// calibration tokens, printing where the time goes: forward passes, Hessian accumulation, quantizer, and the rest (dequantize,
/// proxy-loss measurement, embedding). The measurement's own share is timed afterwards by calling
/// <see cref="QuantizationError.Measure"/> once per module with a Hessian of the same size (its cost does not depend on the values).
/// Run with <c>dotnet run -c Release -- layer-split [sequences=16] [perChunk=16] [sequenceLength=512]</c>; prints Markdown.
/// </summary>
internal static class LayerSplitExperiment
{
    public static void Run(string[] args)
    {
        int sequences = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16;
        int perChunk = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
        int length = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 512;
        const int Vocab = 256;
        var config = new LlamaConfig(4096, 14336, 1, 32, 8, Vocab, length) { TiedEmbeddings = true };
        var rng = new Random(7);
        var documents = Enumerable.Range(0, sequences).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(Vocab)).ToArray()).ToArray();
        var calibration = CalibrationSet.Sample(documents, sequences, length, seed: 1, bosTokenId: null);
        var quantizer = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 128)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer-split: 1 block 4096/14336 (GQA 32/8), {sequences} × {length} = {calibration.TokenCount} tokens, {perChunk} sequences per chunk, GPTQ 3-bit g128, true-sequential; {Environment.ProcessorCount} cores; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; load {Load()}"));

        var source = new SyntheticLlamaWeights(config, 8);
        using var model = new LlamaModel(source, ownsSource: true);
        var progress = new SynchronousProgress();
        var result = LayerwiseQuantizer.Run(model, calibration, new LayerwiseOptions(quantizer) { SequencesPerChunk = perChunk, Progress = progress });
        var t = result.Timings;
        long peakAfterRun = Process.GetCurrentProcess().PeakWorkingSet64;

        double other = t.TotalSeconds - t.ForwardSeconds - t.HessianSeconds - t.QuantizerSeconds;
        Console.WriteLine();
        Console.WriteLine("| stage | seconds | share |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, seconds) in new[]
        {
            ("forward passes (4 captures, each stopped at its input, + propagation)", t.ForwardSeconds),
            ("Hessian accumulation (+ Build)", t.HessianSeconds),
            ("quantizer (GPTQ, 7 modules)", t.QuantizerSeconds),
            ("other (dequantize, measurement, embedding)", other),
            ("total", t.TotalSeconds),
        })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {seconds:F1} | {100 * seconds / t.TotalSeconds:F0} % |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"\npeak working set {peakAfterRun / 1048576.0:F0} MiB; load {Load()}"));

        // The measurement's share of "other": the same Measure call per module, timed on its own.
        double measure = 0;
        var measureRows = new List<string>();
        var hessians = new Dictionary<int, HessianEstimate>();
        foreach (var report in result.Reports)
        {
            config.TryParseModuleName(report.Module, out _, out var tensor);
            var (rows, columns) = config.GetShape(tensor);
            var original = new float[rows * columns];
            source.ReadTensor(tensor, 0, original);
            var statistics = hessians.TryGetValue(columns, out var h) ? h : hessians[columns] = SyntheticHessian(columns, report.FullHessian);
            float[] dequantized = result.Modules[report.Module].Dequantize().Data.ToArray();
            var watch = Stopwatch.StartNew();
            QuantizationError.Measure(new DenseMatrix(original, rows, columns), dequantized, statistics);
            double s = watch.Elapsed.TotalSeconds;
            measure += s;
            measureRows.Add(string.Create(CultureInfo.InvariantCulture, $"| {report.Module} | {rows} × {columns} | {report.Seconds:F2} s | {s:F2} s ({(report.FullHessian ? "full" : "diagonal")} H) |"));
        }

        Console.WriteLine();
        Console.WriteLine("| module | shape | GPTQ | measurement (re-timed alone) |");
        Console.WriteLine("|---|---|---:|---:|");
        measureRows.ForEach(Console.WriteLine);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"\nmeasurement total {measure:F1} s of other {other:F1} s; peak working set {peakAfterRun / 1048576.0:F0} MiB after the pipeline run; load {Load()}"));
    }

    /// <summary>A symmetric positive definite n × n matrix (identity plus a small rank-one term), or its diagonal.</summary>
    private static HessianEstimate SyntheticHessian(int n, bool full)
    {
        var u = Enumerable.Range(0, n).Select(i => 1f + (i % 7)).ToArray();
        if (!full)
        {
            return HessianEstimate.FromDiagonal(u, 1000);
        }

        var h = new float[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                h[((long)i * n) + j] = (i == j ? 1f : 0f) + (1e-3f * u[i] * u[j]);
            }
        }

        return HessianEstimate.FromMatrix(h, n, 1000);
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    /// <summary>Prints each finished module as it happens (the pipeline reports synchronously on its own thread).</summary>
    private sealed class SynchronousProgress : IProgress<LayerwiseProgress>
    {
        public void Report(LayerwiseProgress value)
        {
            if (value.Module is not null)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {value.Elapsed.TotalSeconds,7:F1} s  {value.Module} quantized in {value.Report!.Seconds:F1} s"));
            }
        }
    }
}
