using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Models;

/// <summary>
/// The runtime's y = x·Wᵀ on one 4096 → 14336 projection (an 8B gate/up shape): the packed AVX-512 kernel against the dot-product
/// kernel it replaces for 8+ tokens, and the library's blocked GEMM (256-bit, W pre-transposed) on the same product, all in one run.
/// Flops = 2 · tokens · 4096 · 14336 (7.5 GFLOP at 64 tokens, 60 GFLOP at 512); compare with <c>PeakFmaBenchmarks</c> run beside it.
/// </summary>
public class LlamaMatMulBenchmarks
{
    private const int In = 4096;
    private const int Out = 14336;
    private float[] _x = [];
    private float[] _w = [];
    private float[] _wt = [];
    private float[] _y = [];

    [Params(64, 512)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(11);
        _x = Random(Tokens * In, rng);
        _w = Random(Out * In, rng);
        _wt = new float[_w.Length];
        for (int o = 0; o < Out; o++)
        {
            for (int i = 0; i < In; i++)
            {
                _wt[((long)i * Out) + o] = _w[((long)o * In) + i];
            }
        }

        _y = new float[Tokens * Out];
    }

    /// <summary>Packed 6 × 64 register-tiled kernel (what the runtime uses for 8+ tokens on AVX-512 CPUs).</summary>
    [Benchmark]
    public void Packed() => LlamaKernels.MatMulTransposedPacked(_x, Tokens, In, _w, Out, _y);

    /// <summary>Previous kernel: dot products of 4 tokens × 1 weight row, 256-bit.</summary>
    [Benchmark(Baseline = true)]
    public void DotProducts() => LlamaKernels.MatMulTransposedDot(_x, Tokens, In, _w, Out, _y);

    /// <summary>The library's blocked GEMM (6 × 16 tiles, 256-bit) on the same product, weights pre-transposed.</summary>
    [Benchmark]
    public void LibraryGemm() => CpuKernels.MultiplySubtract(_x, In, _wt, Out, _y, Out, Tokens, Out, In);

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
