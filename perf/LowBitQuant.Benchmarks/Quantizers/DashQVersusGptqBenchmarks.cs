using BenchmarkDotNet.Attributes;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// Issue 5's comparison: DASH-Q against this library's GPTQ on the same 4096 × 4096 layer and the same Hessian, 2 bits, group 32,
/// both with default options, side by side in one run (GPTQ is the baseline, so the Ratio column is DASH-Q's time / GPTQ's time).
/// H = A·Aᵀ/256 + diag with log-normal channel scales and outlier channels (<see cref="GptqBenchmarks.BuildHessian"/>);
/// GPTQ uses the full matrix, DASH-Q reads its diagonal.
/// </summary>
public class DashQVersusGptqBenchmarks
{
    private const int Size = 4096;
    private DenseMatrix _weights;
    private HessianEstimate _hessian = null!;
    private GptqQuantizer _gptq = null!;
    private DashQQuantizer _dashq = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        var w = new float[Size * Size];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        _weights = new DenseMatrix(w, Size, Size);
        _hessian = GptqBenchmarks.BuildHessian(Size, rank: 256, seed: 2);
        var scheme = new QuantizationScheme(2, 32);
        _gptq = new GptqQuantizer(new GptqOptions(scheme));
        _dashq = new DashQQuantizer(new DashQOptions(scheme));
    }

    /// <summary>GPTQ, default options (act-order with static groups, damping 0.01, block 128).</summary>
    [Benchmark(Baseline = true)]
    public QuantizedTensor Gptq() => _gptq.Quantize(_weights, _hessian);

    /// <summary>DASH-Q, default options (9 iterations, early stop, fp16 storage pass).</summary>
    [Benchmark]
    public QuantizedTensor DashQ() => _dashq.Quantize(_weights, _hessian);
}
