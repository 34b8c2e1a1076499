using LowBitQuant.Internal;

namespace LowBitQuant.Tests.Core;

/// <summary>
/// The GEMM-chunked tr(V·H·Vᵀ) behind <see cref="QuantizationError"/> against the plain per-row quadratic form Σ_r Σ_ij v_ri·H_ij·v_rj in
/// float64, over aligned, odd and tiny shapes and chunk sizes that split the rows unevenly.
/// </summary>
public class QuantizationErrorTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 0 }, { 1, 7, 0 }, { 3, 5, 1 }, { 7, 16, 2 }, { 13, 33, 5 }, { 64, 64, 0 }, { 97, 65, 96 }, { 200, 129, 96 },
        { 191, 300, 7 }, { 5, 520, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FullHessianMatchesPlainQuadraticForm(int rows, int n, int chunkRows)
    {
        CheckFull(rows, n, chunkRows, packed: true);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FullHessianOnTheGemmPathMatchesPlainQuadraticForm(int rows, int n, int chunkRows)
    {
        CheckFull(rows, n, chunkRows, packed: false);
    }

    private static void CheckFull(int rows, int n, int chunkRows, bool packed)
    {
        var (v, hessian) = Case(rows, n, seed: rows + (31 * n));
        double expected = PlainQuadraticSum(v, rows, n, hessian.Matrix.ToArray());
        double actual = QuantizationError.RowQuadraticSum(v, rows, n, hessian, chunkRows, packed);
        // float32 accumulation of n products per element of V·H: |error| ≤ n · 2⁻²⁴ · Σ|v|·|H|·|v|.
        double bound = n * Math.Pow(2, -24) * PlainQuadraticSum(v.Select(Math.Abs).ToArray(), rows, n, hessian.Matrix.ToArray().Select(Math.Abs).ToArray());
        Assert.True(Math.Abs(actual - expected) <= bound, $"{actual} vs {expected} ± {bound}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DiagonalHessianMatchesPlainSum(int rows, int n, int chunkRows)
    {
        var (v, full) = Case(rows, n, seed: rows + (17 * n));
        var hessian = full.ToDiagonal();
        double expected = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < n; j++)
            {
                expected += hessian.Diagonal.Span[j] * (double)v[(r * n) + j] * v[(r * n) + j];
            }
        }

        Assert.Equal(expected, QuantizationError.RowQuadraticSum(v, rows, n, hessian, chunkRows), expected * 1e-12);
    }

    [Fact]
    public void MeasureAgreesWithProxyLossAndTheRelativeErrorDefinition()
    {
        var layer = SyntheticLayer.Create(37, 70, 200, seed: 4);
        var q = new RtnQuantizer(new QuantizationScheme(2, 16)).Quantize(layer.Weights).Dequantize().Data.ToArray();
        var (loss, relative) = QuantizationError.Measure(layer.Weights, q, layer.Hessian);
        float[] w = layer.Weights.Data.ToArray(), h = layer.Hessian.Matrix.ToArray();
        double expectedLoss = PlainQuadraticSum(q.Zip(w, (a, b) => a - b).ToArray(), 37, 70, h);
        double reference = PlainQuadraticSum(w, 37, 70, h);
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        Assert.Equal(loss, QuantizationError.ProxyLoss(layer.Weights, q, layer.Hessian));
        Assert.Equal(Math.Sqrt(expectedLoss / reference), relative, 1e-5 * relative);
        Assert.True(relative > 0.01, "2-bit RTN must change the outputs measurably");
    }

    /// <summary>The plain definition: Σ_r Σ_i v_ri · Σ_j H_ij·v_rj, all in float64.</summary>
    private static double PlainQuadraticSum(float[] v, int rows, int n, float[] h)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < n; i++)
            {
                double inner = 0;
                for (int j = 0; j < n; j++)
                {
                    inner += (double)h[(i * n) + j] * v[(r * n) + j];
                }

                total += v[(r * n) + i] * inner;
            }
        }

        return total;
    }

    /// <summary>Random rows and a positive semi-definite H = AᵀA / m with one large channel.</summary>
    private static (float[] V, HessianEstimate H) Case(int rows, int n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[rows * n];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        int m = n + 3;
        var a = new double[m * n];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = ((rng.NextDouble() * 2) - 1) * (i % n == n / 2 ? 10 : 1);
        }

        var h = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < m; t++)
                {
                    s += a[(t * n) + i] * a[(t * n) + j];
                }

                h[(i * n) + j] = h[(j * n) + i] = (float)(s / m);
            }
        }

        return (v, HessianEstimate.FromMatrix(h, n, m));
    }
}
