using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Core;

public class HessianEstimateTests
{
    [Fact]
    public void NonSymmetricMatrixIsRejectedNamingTheEntries()
    {
        var ex = Assert.Throws<ArgumentException>(() => HessianEstimate.FromMatrix([1f, 2f, 3f, 1f], 2, 10));
        Assert.Equal("matrix", ex.ParamName);
        Assert.Contains("H[0, 1]", ex.Message);
    }

    [Fact]
    public void NonFiniteMatrixIsRejectedNamingTheIndex()
    {
        var ex = Assert.Throws<ArgumentException>(() => HessianEstimate.FromMatrix([1f, 0f, 0f, float.NaN], 2, 10));
        Assert.Contains("[1, 1]", ex.Message);
    }

    [Fact]
    public void NegativeDiagonalIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => HessianEstimate.FromDiagonal([1f, -0.5f], 10));
        Assert.Contains("[1]", ex.Message);
    }

    [Fact]
    public void WrongSizeAndCountAreRejected()
    {
        Assert.Equal("matrix", Assert.Throws<ArgumentException>(() => HessianEstimate.FromMatrix(new float[5], 2, 10)).ParamName);
        Assert.Equal("sampleCount", Assert.Throws<ArgumentOutOfRangeException>(() => HessianEstimate.FromDiagonal([1f], 0)).ParamName);
    }

    [Fact]
    public void MergeOfShardsEqualsTheWholeStream()
    {
        const int n = 6;
        var x = TestData.Normal(30 * n, seed: 1);
        HessianEstimate Gram(int from, int to)
        {
            var h = new float[n * n];
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int t = from; t < to; t++)
                    {
                        s += (double)x[(t * n) + i] * x[(t * n) + j];
                    }

                    h[(i * n) + j] = (float)(s / (to - from));
                }
            }

            return HessianEstimate.FromMatrix(h, n, to - from);
        }

        var merged = HessianEstimate.Merge(Gram(0, 7), Gram(7, 30));
        var whole = Gram(0, 30);
        Assert.Equal(30, merged.SampleCount);
        for (int i = 0; i < n * n; i++)
        {
            Assert.Equal(whole.Matrix.Span[i], merged.Matrix.Span[i], 5);
        }
    }

    [Fact]
    public void MergingDifferentKindsOrSizesIsRejected()
    {
        var d = HessianEstimate.FromDiagonal([1f, 2f], 3);
        Assert.Throws<ArgumentException>(() => HessianEstimate.Merge(d, HessianEstimate.FromDiagonal([1f, 2f, 3f], 3)));
        Assert.Throws<ArgumentException>(() => HessianEstimate.Merge(d, HessianEstimate.FromMatrix([1f, 0f, 0f, 1f], 2, 3)));
    }

    [Fact]
    public void ProxyLossEqualsTheMeanSquaredOutputError()
    {
        var layer = LowBitQuant.Internal.SyntheticLayer.Create(5, 24, 40, seed: 2);
        var q = new RtnQuantizer(new QuantizationScheme(2, 8)).Quantize(layer.Weights);
        var dq = q.Dequantize().Data.ToArray();
        var delta = dq.Zip(layer.Weights.Data.ToArray(), (a, b) => a - b).ToArray();
        double expected = Reference.OutputError(delta, 5, 24, layer.Activations.Data.ToArray(), 40);
        Assert.Equal(expected, QuantizationError.ProxyLoss(layer.Weights, dq, layer.Hessian), expected * 1e-4);
        double diagonalOnly = QuantizationError.ProxyLoss(layer.Weights, dq, layer.Hessian.ToDiagonal());
        double byHand = 0;
        for (int i = 0; i < delta.Length; i++)
        {
            byHand += layer.Hessian.Diagonal.Span[i % 24] * delta[i] * (double)delta[i];
        }

        Assert.Equal(byHand, diagonalOnly, byHand * 1e-6);
    }
}
