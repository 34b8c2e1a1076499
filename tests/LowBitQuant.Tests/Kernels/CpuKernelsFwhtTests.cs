using CsCheck;
using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

public class CpuKernelsFwhtTests
{
    public static TheoryData<int> Widths => new() { (int)VectorWidth.Scalar, (int)VectorWidth.V128, (int)VectorWidth.V256, (int)VectorWidth.V512 };

    [Theory]
    [MemberData(nameof(Widths))]
    public void Fwht_equals_dense_sylvester_product_at_every_length(int width)
    {
        for (int m = 0; m <= 10; m++)
        {
            int n = 1 << m;
            var x = TestData.Normal(n, 100 + m);
            var y = (float[])x.Clone();
            CpuKernels.Fwht(y, (VectorWidth)width);
            for (int i = 0; i < n; i++)
            {
                double expected = 0;
                for (int j = 0; j < n; j++)
                {
                    expected += ReferenceHadamard.Sylvester(i, j) * (double)x[j];
                }

                Assert.True(Math.Abs(y[i] - expected) <= 1e-4 * Math.Sqrt(n) * (1 + Math.Abs(expected)), $"n={n} i={i}: {y[i]} vs {expected}");
            }
        }
    }

    [Fact]
    public void Unnormalised_fwht_twice_gives_n_times_x()
    {
        Gen.Int[0, 12].Select(Gen.Int).Sample((m, seed) =>
        {
            int n = 1 << m;
            var x = TestData.Uniform(n, seed);
            var y = (float[])x.Clone();
            CpuKernels.Fwht(y);
            CpuKernels.Fwht(y);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(n * x[i], y[i], n * 1e-4f);
            }
        }, iter: 50);
    }

    [Fact]
    public void Fwht_rows_equals_one_row_at_a_time_including_the_parallel_path()
    {
        foreach (var (rows, n) in new[] { (3, 8), (1, 4096), (40, 2048), (257, 128) })
        {
            var x = TestData.Normal(rows * n, rows + n);
            var expected = (float[])x.Clone();
            for (int r = 0; r < rows; r++)
            {
                CpuKernels.Fwht(expected.AsSpan(r * n, n), VectorWidth.Scalar);
            }

            CpuKernels.FwhtRows(x, n);
            for (int i = 0; i < x.Length; i++)
            {
                Assert.Equal(expected[i], x[i], 1e-3f);
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(100)]
    public void Fwht_rejects_lengths_that_are_not_powers_of_two(int n)
    {
        var ex = Assert.Throws<ArgumentException>(() => CpuKernels.Fwht(new float[n]));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains(n.ToString(), ex.Message);
        Assert.Throws<ArgumentException>(() => CpuKernels.FwhtRows(new float[24], 12));
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => CpuKernels.FwhtRows(new float[24], 16)).ParamName);
    }
}
