using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Rotation;

/// <summary>
/// Rotating every row of a 4096 × 4096 matrix: the FWHT (SIMD, parallel rows) against multiplying by the dense Hadamard
/// matrix (with the library's blocked GEMM, and with the simple blocked parallel loop first used as the reference), and a plain copy
/// of the same bytes.
/// </summary>
[MemoryDiagnoser]
public class FwhtBenchmarks
{
    private const int N = 4096;
    private float[] _x = [];
    private float[] _y = [];
    private float[] _h = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _x = Enumerable.Range(0, N * N).Select(_ => (float)rng.NextDouble()).ToArray();
        _y = new float[N * N];
        _h = new float[N * N];
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < N; j++)
            {
                _h[(i * N) + j] = (System.Numerics.BitOperations.PopCount((uint)(i & j)) & 1) == 0 ? 1f : -1f;
            }
        }
    }

    [Benchmark(Baseline = true)]
    public void Copy() => _x.AsSpan().CopyTo(_y);

    [Benchmark]
    public void FwhtRows() => CpuKernels.FwhtRows(_y, N);

    [Benchmark]
    public void HadamardRotationApply() => _rotation.Apply(_y);

    [Benchmark]
    public void DenseBlockedGemm()
    {
        // Y = X·H, blocked over k and j; each (row, k-block) accumulates with FMA over a j-block held in cache.
        const int Kb = 256, Jb = 512;
        Array.Clear(_y);
        Parallel.For(0, N / 64, rb =>
        {
            for (int k0 = 0; k0 < N; k0 += Kb)
            {
                for (int j0 = 0; j0 < N; j0 += Jb)
                {
                    for (int i = rb * 64; i < (rb + 1) * 64; i++)
                    {
                        var yRow = _y.AsSpan((i * N) + j0, Jb);
                        for (int k = k0; k < k0 + Kb; k++)
                        {
                            TensorPrimitives.MultiplyAdd(_h.AsSpan((k * N) + j0, Jb), _x[(i * N) + k], yRow, yRow);
                        }
                    }
                }
            }
        });
    }

    /// <summary>Y −= X·H with the library's blocked GEMM (2·4096³ = 137 GFLOP).</summary>
    [Benchmark]
    public void DenseLibraryGemm() => CpuKernels.MultiplySubtract(_x, N, _h, N, _y, N, N, N, N);

    private readonly HadamardRotation _rotation = HadamardRotation.CreateUnsigned(N);
}
