using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Kernels;

/// <summary>Affine quantize / dequantize of one row: the SIMD driver at the preferred width against its scalar path.</summary>
[MemoryDiagnoser]
public class AffineBenchmarks
{
    private float[] _x = [];
    private byte[] _codes = [];
    private float[] _y = [];

    /// <summary>One aligned and one odd length.</summary>
    [Params(4096, 4099)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _x = Enumerable.Range(0, Length).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        _codes = new byte[Length];
        _y = new float[Length];
        CpuKernels.QuantizeAffine(_x, 2f / 15, 7f, 15, _codes);
    }

    [Benchmark(Baseline = true)]
    public void QuantizeScalar() => CpuKernels.QuantizeAffine(_x, 2f / 15, 7f, 15, _codes, VectorWidth.Scalar);

    [Benchmark]
    public void QuantizeSimd() => CpuKernels.QuantizeAffine(_x, 2f / 15, 7f, 15, _codes);

    [Benchmark]
    public void DequantizeScalar() => CpuKernels.DequantizeAffine(_codes, 2f / 15, 7f, _y, VectorWidth.Scalar);

    [Benchmark]
    public void DequantizeSimd() => CpuKernels.DequantizeAffine(_codes, 2f / 15, 7f, _y);
}
