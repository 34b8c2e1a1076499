using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

public class GemmAndCholeskyTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 1, 17, 3 }, { 5, 15, 1 }, { 6, 16, 8 }, { 7, 33, 5 }, { 13, 47, 129 }, { 97, 259, 64 }, { 200, 300, 128 }, { 3, 520, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FloatGemmMatchesPlainLoops(int m, int n, int k)
    {
        // Leading dimensions wider than the logical sizes exercise the strides.
        int lda = k + 3, ldb = n + 5, ldc = n + 1;
        var a = TestData.Normal(m * lda, seed: m);
        var b = TestData.Normal(k * ldb, seed: n);
        var c = TestData.Normal(m * ldc, seed: k);
        var expected = (float[])c.Clone();
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                {
                    s += (double)a[(i * lda) + p] * b[(p * ldb) + j];
                }

                expected[(i * ldc) + j] = (float)(c[(i * ldc) + j] - s);
            }
        }

        foreach (bool parallel in new[] { false, true })
        {
            var actual = (float[])c.Clone();
            CpuKernels.MultiplySubtract(a, lda, b, ldb, actual, ldc, m, n, k, parallel);
            for (int i = 0; i < actual.Length; i++)
            {
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * (Math.Sqrt(k) + Math.Abs(expected[i])), $"element {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DoubleGemmMatchesPlainLoopsForEveryShape(int m, int n, int k)
    {
        int lda = k + 2, ldb = n + 3, ldc = n + 2;
        var a = TestData.Normal(m * lda, seed: m + 1).Select(x => (double)x).ToArray();
        var b = TestData.Normal(k * ldb, seed: n + 1).Select(x => (double)x).ToArray();
        var c = TestData.Normal(m * ldc, seed: k + 1).Select(x => (double)x).ToArray();
        foreach (var shape in new[] { GemmShape.Full, GemmShape.LowerC, GemmShape.LowerTriangularB })
        {
            var bb = (double[])b.Clone();
            if (shape == GemmShape.LowerTriangularB)
            {
                for (int p = 0; p < k; p++)
                {
                    for (int j = p + 1; j < n; j++)
                    {
                        bb[(p * ldb) + j] = 0;
                    }
                }
            }

            var actual = (double[])c.Clone();
            CpuKernels.MultiplySubtract(a, lda, bb, ldb, actual, ldc, m, n, k, shape);
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                    {
                        s += a[(i * lda) + p] * bb[(p * ldb) + j];
                    }

                    double want = c[(i * ldc) + j] - s;
                    if (shape == GemmShape.LowerC && j > i)
                    {
                        continue; // only the lower triangle is promised
                    }

                    Assert.True(Math.Abs(actual[(i * ldc) + j] - want) <= 1e-12 * (k + 1) * (1 + Math.Abs(want)), $"{shape} [{i}, {j}]");
                }
            }
        }
    }

    [Fact]
    public void GemmRejectsBadArguments()
    {
        var x = new float[16];
        Assert.Equal("lda", Assert.Throws<ArgumentException>(() => CpuKernels.MultiplySubtract(x, 1, x, 4, x, 4, 2, 4, 2)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => CpuKernels.MultiplySubtract(x, 2, x, 4, x.AsSpan(0, 5), 4, 2, 4, 2)).ParamName);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(130)]
    [InlineData(300)]
    public void BlockedCholeskyAndInverseMatchDefinitions(int n)
    {
        var h = SpdMatrix(n, seed: n);
        var a = Flatten(h);
        Assert.Equal(-1, Cholesky.Factor(a, n));
        var expected = GptqReference.CholeskyLower(h);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                Assert.True(Math.Abs(a[(i * n) + j] - expected[i, j]) <= 1e-10 * (1 + Math.Abs(expected[i, j])), $"L[{i}, {j}]");
            }
        }

        var inv = new double[n * n];
        Cholesky.InvertLower(a, inv, n);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < n; p++)
                {
                    s += a[(i * n) + p] * inv[(p * n) + j];
                }

                Assert.True(Math.Abs(s - (i == j ? 1 : 0)) <= 1e-10, $"(L·L⁻¹)[{i}, {j}] = {s}");
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(33)]
    [InlineData(150)]
    public void ReversedSingleCholeskyRouteAgreesWithThreeCallRoute(int n)
    {
        var h = SpdMatrix(n, seed: 7 * n);
        var u = new double[n * n];
        Assert.Equal(-1, Cholesky.InverseUpperFactor(Flatten(h), n, u));
        var expected = GptqReference.InverseUpperFactorThreeCalls(h);
        double scale = 0;
        foreach (double v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                Assert.True(Math.Abs(u[(i * n) + j] - expected[i, j]) <= 1e-12 * scale, $"U[{i}, {j}]: {u[(i * n) + j]} vs {expected[i, j]}");
            }
        }
    }

    [Fact]
    public void FactorReportsTheFailedPivot()
    {
        // Rank 1 (plus nothing): the second pivot is 0 up to rounding.
        const int n = 4;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                a[(i * n) + j] = (i + 1) * (j + 1);
            }
        }

        Assert.Equal(1, Cholesky.Factor(a, n));
        Assert.Equal(0, Cholesky.Factor([-1.0], 1));
    }

    /// <summary>A well-conditioned random SPD matrix: G·Gᵀ/n + I.</summary>
    internal static double[,] SpdMatrix(int n, int seed)
    {
        var g = TestData.Normal(n * n, seed);
        var h = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int p = 0; p < n; p++)
                {
                    s += (double)g[(i * n) + p] * g[(j * n) + p];
                }

                h[i, j] = h[j, i] = (s / n) + (i == j ? 1 : 0);
            }
        }

        return h;
    }

    internal static double[] Flatten(double[,] m)
    {
        int n = m.GetLength(0);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                a[(i * n) + j] = m[i, j];
            }
        }

        return a;
    }
}
