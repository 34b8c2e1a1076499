using System.Diagnostics;
using System.Globalization;
using LowBitQuant.Benchmarks.Hessian;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Models;

/// <summary>
/// Not a BenchmarkDotNet class: the kernels of <see cref="LlamaMatMulBenchmarks"/> timed by process CPU time, interleaved with the
/// 2-core 512-bit FMA peak chain, so the fraction of peak holds up when other processes time-slice the cores (wall-clock ratios
/// then move with the load). Run with <c>dotnet run -c Release -- matmul-cputime [rounds=3]</c>; prints Markdown.
/// </summary>
internal static class MatMulCpuTimeExperiment
{
    public static void Run(string[] args)
    {
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        const int In = 4096, Out = 14336;
        var rng = new Random(11);
        float[] w = Random(Out * In, rng), wt = new float[w.Length];
        for (int o = 0; o < Out; o++)
        {
            for (int i = 0; i < In; i++)
            {
                wt[((long)i * Out) + o] = w[((long)o * In) + i];
            }
        }

        var peak = new PeakFmaBenchmarks();
        double peakFlops = (double)Environment.ProcessorCount * PeakFmaBenchmarks.Iterations * 12 * 16 * 2; // per Fma512AllCores call
        Console.WriteLine($"matmul-cputime: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load {Load()}; GFLOP per CPU-second, {rounds} rounds");
        Console.WriteLine("| tokens | kernel | wall (best) | CPU time (best) | GFLOP per CPU-s | % of CPU-time peak |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|");
        foreach (int tokens in new[] { 64, 512 })
        {
            float[] x = Random(tokens * In, rng), y = new float[tokens * Out];
            double flops = 2.0 * tokens * In * Out;
            var kernels = new (string Name, Action Run)[]
            {
                ("packed 6 × 64 (512-bit)", () => LlamaKernels.MatMulTransposedPacked(x, tokens, In, w, Out, y)),
                ("dot products 4 × 1 (256-bit, previous)", () => LlamaKernels.MatMulTransposedDot(x, tokens, In, w, Out, y)),
                ("library GEMM 6 × 16 (256-bit)", () => CpuKernels.MultiplySubtract(x, In, wt, Out, y, Out, tokens, Out, In)),
            };
            var best = kernels.Select(_ => (Wall: double.MaxValue, Cpu: double.MaxValue)).ToArray();
            double peakCpu = double.MaxValue;
            foreach (var k in kernels)
            {
                k.Run(); // JIT and tiering
            }

            for (int r = 0; r < rounds; r++)
            {
                peakCpu = Math.Min(peakCpu, Measure(() => peak.Fma512AllCores()).Cpu);
                for (int i = 0; i < kernels.Length; i++)
                {
                    var (wall, cpu) = Measure(kernels[i].Run);
                    best[i] = (Math.Min(best[i].Wall, wall), Math.Min(best[i].Cpu, cpu));
                }
            }

            double peakRate = peakFlops / peakCpu / 1e9; // GFLOP per CPU-second of the register-only chain
            for (int i = 0; i < kernels.Length; i++)
            {
                double rate = flops / best[i].Cpu / 1e9;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {tokens} | {kernels[i].Name} | {best[i].Wall * 1e3:F0} ms | {best[i].Cpu * 1e3:F0} ms | {rate:F1} | {100 * rate / peakRate:F0} % |"));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {tokens} | 512-bit FMA peak chain | | {peakCpu * 1e3:F1} ms | {peakRate:F1} | 100 % |"));
        }

        Console.WriteLine($"load {Load()}");
    }

    private static (double Wall, double Cpu) Measure(Action action)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        action();
        double wall = watch.Elapsed.TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds);
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private static float[] Random(int n, Random rng)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1) / 64;
        }

        return x;
    }
}
