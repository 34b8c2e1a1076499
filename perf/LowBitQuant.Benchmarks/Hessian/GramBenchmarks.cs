using BenchmarkDotNet.Attributes;
using LowBitQuant.Hessian;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Hessian;

/// <summary>
/// Full XᵀX accumulation for 8192 tokens × 4096 channels (the target shape), against a naive Parallel.For
/// triple loop on 512 × 1024 (extrapolate ×256 by flops: 8192·4096² / (512·1024²)), and against the machine's
/// measured FMA peak (<see cref="PeakFmaBenchmarks"/>). Flops executed by the blocked kernel:
/// pairs·64²·tokens·2 = 2080·4096·8192·2 = 139.6 GFLOP (upper-triangle tiles only).
/// </summary>
public class GramBenchmarks
{
    public const int Tokens = 8192;
    public const int Channels = 4096;
    public const int NaiveTokens = 512;
    public const int NaiveChannels = 1024;

    private float[] _x = [];
    private float[] _naiveX = [];
    private double[] _naiveC = [];
    private PackedGramAccumulator _accumulator = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = new float[Tokens * Channels];
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        _naiveX = _x.AsSpan(0, NaiveTokens * NaiveChannels).ToArray();
        _naiveC = new double[NaiveChannels * NaiveChannels];
        _accumulator = new PackedGramAccumulator(Channels);
    }

    /// <summary>Blocked, symmetric, multi-threaded kernel at its default width (explicit 512-bit where AVX-512F exists).</summary>
    [Benchmark]
    public void BlockedGram8192x4096() => CpuKernels.AccumulateGram(_x, _accumulator);

    /// <summary>The same kernel forced to 256-bit vectors.</summary>
    [Benchmark]
    public void BlockedGram8192x4096V256() => CpuKernels.AccumulateGram(_x, _accumulator, VectorWidth.V256);

    /// <summary>Naive Parallel.For triple loop (full product, float32 products summed in float64) on 512 × 1024.</summary>
    [Benchmark]
    public void NaiveGram512x1024()
    {
        var x = _naiveX;
        var c = _naiveC;
        Parallel.For(0, NaiveChannels, i =>
        {
            for (int j = 0; j < NaiveChannels; j++)
            {
                double sum = 0;
                for (int t = 0; t < NaiveTokens; t++)
                {
                    sum += x[(t * NaiveChannels) + i] * x[(t * NaiveChannels) + j];
                }

                c[(i * NaiveChannels) + j] += sum;
            }
        });
    }
}
