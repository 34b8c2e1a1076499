using LowBitQuant.Hessian;
using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

public class CpuKernelsGramTests
{
    public static TheoryData<int, int, int> Shapes()
    {
        var data = new TheoryData<int, int, int>();
        (int Tokens, int Columns)[] shapes = [(1, 1), (3, 5), (5, 3), (17, 33), (1, 64), (64, 65), (129, 63), (130, 257), (600, 70), (1030, 19)];
        foreach (var (t, c) in shapes)
        {
            foreach (var w in new[] { VectorWidth.Scalar, VectorWidth.V256, VectorWidth.V512 })
            {
                if (w == VectorWidth.V512 && !System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
                {
                    continue;
                }

                data.Add(t, c, (int)w);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GramMatchesFloat64Reference(int tokens, int columns, int widthCode)
    {
        var width = (VectorWidth)widthCode;
        var x = ReferenceHessian.Activations(tokens, columns, seed: tokens * 31 + columns);
        var acc = new PackedGramAccumulator(columns);
        CpuKernels.AccumulateGram(x, acc, width);
        var expected = ReferenceHessian.Gram(x, columns);
        var actual = new float[columns * columns];
        acc.CopyScaledTo(1.0, actual);
        double err = ReferenceHessian.MaxRelativeError(actual, expected);
        Assert.True(err < 2e-6, $"max relative error {err:E2} for {tokens}×{columns} at {width}");
        for (int i = 0; i < columns; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                Assert.Equal(actual[(i * columns) + j], actual[(j * columns) + i]);
            }
        }
    }

    [Fact]
    public void GramAccumulatesAcrossCallsLikeOneCall()
    {
        var x = ReferenceHessian.Activations(700, 37, seed: 5);
        var once = new PackedGramAccumulator(37);
        CpuKernels.AccumulateGram(x, once);
        var split = new PackedGramAccumulator(37);
        CpuKernels.AccumulateGram(x.AsSpan(0, 300 * 37), split);
        CpuKernels.AccumulateGram(x.AsSpan(300 * 37), split);
        var expected = ReferenceHessian.Gram(x, 37);
        for (int i = 0; i < 37; i++)
        {
            for (int j = i; j < 37; j++)
            {
                double e = expected[(i * 37) + j];
                Assert.True(Math.Abs(split.Get(i, j) - e) <= 1e-5 * Math.Abs(e) + 1e-9);
                Assert.True(Math.Abs(once.Get(i, j) - e) <= 1e-5 * Math.Abs(e) + 1e-9);
            }
        }
    }

    [Fact]
    public void LargeBatchTakesTheParallelPathAndMatches()
    {
        // 256 tokens × 300 channels = 15 tile pairs × 4096 × 256 > the parallel threshold.
        var x = ReferenceHessian.Activations(256, 300, seed: 9);
        var acc = new PackedGramAccumulator(300);
        CpuKernels.AccumulateGram(x, acc);
        var actual = new float[300 * 300];
        acc.CopyScaledTo(1.0, actual);
        Assert.True(ReferenceHessian.MaxRelativeError(actual, ReferenceHessian.Gram(x, 300)) < 2e-6);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(129, 17)]
    [InlineData(300, 2500)]
    public void SquaresMatchFloat64Reference(int tokens, int columns)
    {
        var x = ReferenceHessian.Activations(tokens, columns, seed: tokens + columns);
        var sums = new double[columns];
        CpuKernels.AccumulateSquares(x, sums);
        var expected = ReferenceHessian.SumOfSquares(x, columns);
        for (int j = 0; j < columns; j++)
        {
            Assert.True(Math.Abs(sums[j] - expected[j]) <= 1e-6 * expected[j] + 1e-12, $"column {j}: {sums[j]} vs {expected[j]}");
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(5, 0)]
    [InlineData(5, 3)]
    [InlineData(224, 224)]
    public void PairIndexRoundTrips(int tiles, int index)
    {
        if (index >= tiles * (tiles + 1) / 2)
        {
            return;
        }

        var (i, j) = PackedGramAccumulator.PairAt(tiles, index);
        Assert.True(i <= j && j < tiles);
        Assert.Equal(index, PackedGramAccumulator.PairIndex(tiles, i, j));
    }
}
