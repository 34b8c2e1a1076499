using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// GPTQ on one layer with a precomputed Hessian, 3 bits, group 128, and its two heavy phases alone:
/// the float64 inverse factor (Cholesky + triangular inverse, 2n³/3 flops) and the lazy block updates (≈ rows·c² flops).
/// H = A·Aᵀ/r + diag, A = c × 256 low-rank activations with log-normal channel scales and a few outlier channels,
/// built with the library's GEMM (SyntheticLayer's naive Gram is too slow at these sizes).
/// </summary>
public class GptqBenchmarks
{
    private DenseMatrix _weights;
    private HessianEstimate _hessian = null!;
    private double[] _hd = [];
    private double[] _u = [];
    private float[] _e = [];
    private float[] _uf = [];
    private float[] _w = [];

    /// <summary>Layer shapes, rows × columns; LOWBITQUANT_GPTQ_SHAPES (comma-separated) narrows a run.</summary>
    public static IEnumerable<string> Shapes =>
        (Environment.GetEnvironmentVariable("LOWBITQUANT_GPTQ_SHAPES") ?? "4096x4096,11008x4096,4096x14336").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Layer shape: rows × columns.</summary>
    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "4096x4096";

    private int Rows => int.Parse(Shape.Split('x')[0]);

    private int Columns => int.Parse(Shape.Split('x')[1]);

    [GlobalSetup]
    public void Setup()
    {
        int rows = Rows, c = Columns;
        _weights = new DenseMatrix(Normal(rows * c, 1, 0.02f), rows, c);
        _hessian = BuildHessian(c, rank: 256, seed: 2);
        _hd = _hessian.Matrix.ToArray().Select(x => (double)x).ToArray();
        double mean = _hessian.Diagonal.ToArray().Average(x => (double)x);
        for (int i = 0; i < c; i++)
        {
            _hd[((long)i * c) + i] += 0.01 * mean;
        }

        _u = new double[(long)c * c];
        _e = Normal(rows * 128, 3, 0.01f);
        _uf = Normal(128 * c, 4, 0.1f);
        _w = new float[(long)rows * c];
    }

    [Benchmark(Description = "GPTQ static groups (act-order)")]
    public QuantizedTensor ActOrderStaticGroups() => Run(GptqColumnOrder.ActOrderStaticGroups);

    [Benchmark(Description = "GPTQ natural order")]
    public QuantizedTensor Natural() => Run(GptqColumnOrder.Natural);

    [Benchmark(Description = "GPTQ act-order, dynamic groups")]
    public QuantizedTensor ActOrder() => Run(GptqColumnOrder.ActOrder);

    /// <summary>U of (H + λI)⁻¹: 2n³/3 flops.</summary>
    [Benchmark(Description = "inverse factor (fp64)")]
    public int InverseFactor() => Cholesky.InverseUpperFactor(_hd, Columns, _u);

    /// <summary>One representative lazy update at the first block: rows × 128 × (c − 128) FMAs.</summary>
    [Benchmark(Description = "one block update (fp32 GEMM, k = 128)")]
    public void BlockUpdate() => CpuKernels.MultiplySubtract(_e, 128, _uf.AsSpan(128), Columns, _w.AsSpan(128), Columns, Rows, Columns - 128, 128);

    private QuantizedTensor Run(GptqColumnOrder order) =>
        new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 128)) { ColumnOrder = order }).Quantize(_weights, _hessian);

    internal static HessianEstimate BuildHessian(int c, int rank, int seed)
    {
        var rng = new Random(seed);
        var scale = new float[c];
        for (int j = 0; j < c; j++)
        {
            scale[j] = (float)Math.Exp(0.3 * Gauss(rng));
        }

        for (int k = 0; k < c / 64; k++)
        {
            scale[rng.Next(c)] *= (float)(10 + (20 * rng.NextDouble()));
        }

        var a = Normal(c * rank, seed + 1, 1f);
        var at = new float[rank * c];
        for (int i = 0; i < c; i++)
        {
            for (int p = 0; p < rank; p++)
            {
                a[(i * rank) + p] *= scale[i];
                at[(p * c) + i] = a[(i * rank) + p];
            }
        }

        var h = new float[(long)c * c];
        CpuKernels.MultiplySubtract(a, rank, at, c, h, c, c, c, rank); // h = −A·Aᵀ
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < c; j++)
            {
                h[((long)i * c) + j] = -h[((long)i * c) + j] / rank;
            }

            h[((long)i * c) + i] += 0.25f * scale[i] * scale[i];
        }

        // Symmetrise exactly (the GEMM's two triangles agree to rounding only).
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < i; j++)
            {
                h[((long)j * c) + i] = h[((long)i * c) + j];
            }
        }

        return HessianEstimate.FromMatrix(h, c, 2048);
    }

    private static float[] Normal(int n, int seed, float s)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(s * Gauss(rng));
        }

        return x;
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
