using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Hessian;

/// <summary>
/// Diagonal accumulation (Σx² per channel) over 8192 × 4096 floats (128 MiB read) against a plain copy of the same
/// 128 MiB (read + write = 256 MiB of traffic) in the same run: bandwidth = bytes / time.
/// </summary>
public class DiagonalBenchmarks
{
    private float[] _x = [];
    private float[] _copy = [];
    private double[] _sums = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        _x = new float[GramBenchmarks.Tokens * GramBenchmarks.Channels];
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        _copy = new float[_x.Length];
        _sums = new double[GramBenchmarks.Channels];
    }

    [Benchmark]
    public void AccumulateSquares8192x4096() => CpuKernels.AccumulateSquares(_x, _sums);

    [Benchmark(Baseline = true)]
    public void Copy128MiB() => _x.AsSpan().CopyTo(_copy);
}
