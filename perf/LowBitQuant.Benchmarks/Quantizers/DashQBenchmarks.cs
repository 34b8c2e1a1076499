using BenchmarkDotNet.Attributes;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// DASH-Q on a 4096 × 4096 layer at 2 bits, group 32 (the size), beside a plain copy of the weight matrix measured in the same
/// run: the copy time × iterations is the time to stream the weights once per iteration.
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
}
