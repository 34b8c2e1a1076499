using BenchmarkDotNet.Attributes;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// Issue 6: HeRo-Q's overhead over its inner quantizer on one layer (default 4096 × 4096; LOWBITQUANT_HEROQ_SIZE narrows a
/// run, CI uses 512), 3 bits, group 128, same Hessian as <see cref="DashQVersusGptqBenchmarks"/>. HeRo-Q runs the inner
/// quantizer once per α candidate (11 + identity), conditions H for each, and scores each candidate's proxy loss.
/// </summary>
public class HeroQOverheadBenchmarks
{
    private DenseMatrix _weights;
    private HessianEstimate _hessian = null!;
    private IQuantizer _inner = null!;
    private IQuantizer _heroq = null!;

    /// <summary>Layer size n (n × n).</summary>
    public static int Size => int.Parse(Environment.GetEnvironmentVariable("LOWBITQUANT_HEROQ_SIZE") ?? "4096", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The inner quantizer.</summary>
    [Params("rtn", "gptq")]
    public string Inner { get; set; } = "rtn";

    [GlobalSetup]
    public void Setup()
    {
        int n = Size;
        var rng = new Random(42);
        var w = new float[n * n];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        _weights = new DenseMatrix(w, n, n);
        _hessian = GptqBenchmarks.BuildHessian(n, rank: Math.Min(256, n / 2), seed: 2);
        var scheme = new QuantizationScheme(3, 128);
        _inner = Inner == "gptq" ? new GptqQuantizer(new GptqOptions(scheme)) : new RtnQuantizer(scheme);
        _heroq = new HeroQQuantizer(new HeroQOptions(), _inner);
    }

    /// <summary>The inner quantizer alone.</summary>
    [Benchmark(Baseline = true)]
    public QuantizedTensor InnerAlone() => _inner.Quantize(_weights, _inner.RequiredHessian == HessianKind.None ? null : _hessian);

    /// <summary>HeRo-Q around it (α search, rotation, conditioned Hessian).</summary>
    [Benchmark]
    public QuantizedTensor HeroQ() => _heroq.Quantize(_weights, _hessian);
}
