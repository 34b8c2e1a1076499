using BenchmarkDotNet.Attributes;
using LowBitQuant.Quantizers;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// DASH-Q on a 4096 × 4096 layer at 2 bits, group 32 (the size), beside a plain copy of the weight matrix measured in the same
/// run: the copy time × iterations is the time to stream the weights once per iteration. The two solver rows compare the layer solve
/// (no input validation, no result wrapping) on 16-row AVX-512 tiles and on the <see cref="System.Numerics.Vector{T}"/> 8-row tiles used
/// before them and on CPUs without AVX-512.
/// </summary>
[MemoryDiagnoser]
public class DashQBenchmarks
{
    private const int Size = 4096;
    private float[] _weights = [];
    private float[] _copy = [];
    private HessianEstimate _hessian = null!;
    private DashQQuantizer _dashq = null!;
    private DashQQuantizer _dashqSearch = null!;
    private float[] _diagonal = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _weights = new float[Size * Size];
        for (int i = 0; i < _weights.Length; i++)
        {
            _weights[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        _copy = new float[_weights.Length];
        var h = new float[Size];
        for (int j = 0; j < Size; j++)
        {
            h[j] = (float)Math.Exp(rng.NextDouble() * 4);
        }

        _diagonal = h;
        _hessian = HessianEstimate.FromDiagonal(h, 2048);
        var scheme = new QuantizationScheme(2, 32);
        _dashq = new DashQQuantizer(new DashQOptions(scheme));
        _dashqSearch = new DashQQuantizer(new DashQOptions(scheme) { RangeCandidates = 41 });
    }

    /// <summary>Streams the weight matrix once (read + write).</summary>
    [Benchmark(Baseline = true)]
    public void CopyWeights() => _weights.AsSpan().CopyTo(_copy);

    [Benchmark]
    public QuantizedTensor DashQ() => _dashq.Quantize(new DenseMatrix(_weights, Size, Size), _hessian);

    [Benchmark]
    public QuantizedTensor DashQRangeSearch() => _dashqSearch.Quantize(new DenseMatrix(_weights, Size, Size), _hessian);

    /// <summary>The layer solve on 16-row AVX-512 tiles (the default where the CPU has AVX-512; else the same as the next row).</summary>
    [Benchmark]
    public object SolverAvx512Tiles() => DashQSolver.Solve(_weights, Size, Size, _diagonal, _dashq.Options, default);

    /// <summary>The layer solve on <see cref="System.Numerics.Vector{T}"/> tiles (8 rows with 256-bit vectors), the path before AVX-512.</summary>
    [Benchmark]
    public object SolverVectorTTiles() => DashQSolver.Solve(_weights, Size, Size, _diagonal, _dashq.Options, default, allowAvx512: false);
}
