using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

public class RtnQuantizerTests
{
    [Theory]
    [InlineData(1, 1, 2, null, false)]
    [InlineData(3, 5, 3, 2, false)]
    [InlineData(7, 130, 4, 32, true)]
    [InlineData(16, 257, 4, 128, false)]
    [InlineData(5, 64, 8, null, true)]
    [InlineData(9, 96, 2, 32, false)]
    public void MatchesReferenceRtnIncludingPartialGroups(int rows, int columns, int bits, int? groupSize, bool symmetric)
    {
        var w = TestData.Normal(rows * columns, seed: rows + columns);
        var q = new RtnQuantizer(new QuantizationScheme(bits, groupSize, symmetric)).Quantize(new DenseMatrix(w, rows, columns));
        var expected = Reference.Rtn(w, rows, columns, bits, groupSize, symmetric);
        var actual = new float[w.Length];
        q.Dequantize(actual);
        Assert.Equal(expected, actual);
        Assert.Equal("rtn", q.Diagnostics.Method);
    }

    [Fact]
    public void AsymmetricErrorIsAtMostHalfAStep()
    {
        var w = TestData.Uniform(64 * 96, seed: 1);
        var q = new RtnQuantizer(new QuantizationScheme(3, 32)).Quantize(new DenseMatrix(w, 64, 96));
        var d = q.Dequantize().Data.Span;
        for (int i = 0; i < w.Length; i++)
        {
            float s = q.Scales.Span[((i / 96) * 3) + ((i % 96) / 32)];
            Assert.True(Math.Abs(d[i] - w[i]) <= (0.5f * s * 1.001f) + 1e-6f, $"element {i}");
        }
    }

    [Fact]
    public void RepresentableWeightsAreRecoveredExactly()
    {
        // Codes on a grid whose range includes 0 and whose scale is an fp16 number come back exactly.
        var rng = new Random(4);
        const float s = 0.125f;
        var w = new float[8 * 64];
        for (int r = 0; r < 8; r++)
        {
            for (int j = 0; j < 64; j++)
            {
                w[(r * 64) + j] = s * (rng.Next(16) - 5);
            }

            w[r * 64] = -5 * s;
            w[(r * 64) + 1] = 10 * s;
        }

        var q = new RtnQuantizer(new QuantizationScheme(4, null)).Quantize(new DenseMatrix(w, 8, 64));
        Assert.Equal(w, q.Dequantize().Data.ToArray());
    }

    [Fact]
    public void MoreBitsNeverIncreaseTheError()
    {
        var w = TestData.Normal(32 * 256, seed: 2);
        double previous = double.MaxValue;
        for (int bits = 2; bits <= 8; bits++)
        {
            var d = new RtnQuantizer(new QuantizationScheme(bits, 64)).Quantize(new DenseMatrix(w, 32, 256)).Dequantize().Data.Span;
            double err = 0;
            for (int i = 0; i < w.Length; i++)
            {
                err += Math.Pow(d[i] - w[i], 2);
            }

            Assert.True(err < previous, $"{bits} bits: {err} ≥ {previous}");
            previous = err;
        }
    }

    [Fact]
    public void RowsAreQuantizedIndependently()
    {
        var w = TestData.Normal(6 * 40, seed: 3);
        var quantizer = new RtnQuantizer(new QuantizationScheme(3, 16));
        var all = quantizer.Quantize(new DenseMatrix(w, 6, 40)).Dequantize().Data.ToArray();
        var row4 = quantizer.Quantize(new DenseMatrix(w.AsSpan(4 * 40, 40).ToArray(), 1, 40)).Dequantize().Data.ToArray();
        Assert.Equal(all.AsSpan(4 * 40, 40).ToArray(), row4);
    }

    [Fact]
    public void HessianWeightedClipSearchLowersTheProxyLoss()
    {
        var layer = LowBitQuant.Internal.SyntheticLayer.Create(32, 128, 512, seed: 6);
        var plain = new RtnQuantizer(new QuantizationScheme(3, 32)).Quantize(layer.Weights, layer.Hessian);
        var searched = new RtnQuantizer(new QuantizationScheme(3, 32), new ClipSearch(norm: 2)).Quantize(layer.Weights, layer.Hessian);
        double lossPlain = QuantizationError.ProxyLoss(layer.Weights, plain.Dequantize().Data.Span, layer.Hessian);
        double lossSearched = QuantizationError.ProxyLoss(layer.Weights, searched.Dequantize().Data.Span, layer.Hessian);
        Assert.True(lossSearched < lossPlain, $"{lossSearched} ≥ {lossPlain}");
    }

    [Fact]
    public void NaNWeightIsRejectedNamingTheTensorAndIndex()
    {
        var w = new float[4 * 8];
        w[(2 * 8) + 5] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => new RtnQuantizer(new QuantizationScheme(4, null)).Quantize(new DenseMatrix(w, 4, 8)));
        Assert.Equal("weights", ex.ParamName);
        Assert.Contains("'weight'", ex.Message);
        Assert.Contains("[2, 5]", ex.Message);
    }

    [Fact]
    public void InfiniteWeightIsRejected()
    {
        var w = new float[8];
        w[7] = float.NegativeInfinity;
        var ex = Assert.Throws<ArgumentException>(() => new RtnQuantizer(new QuantizationScheme(4, null)).Quantize(new DenseMatrix(w, 1, 8)));
        Assert.Contains("[0, 7]", ex.Message);
    }

    [Fact]
    public void EmptyMatrixIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RtnQuantizer(new QuantizationScheme(4, null)).Quantize(new DenseMatrix(Array.Empty<float>(), 0, 16)));
        Assert.Equal("weights", ex.ParamName);
        Assert.Contains("empty", ex.Message);
    }

    [Fact]
    public void HessianOfTheWrongSizeIsRejected()
    {
        var h = HessianEstimate.FromDiagonal(new float[7], 10);
        var ex = Assert.Throws<ArgumentException>(() => new RtnQuantizer(new QuantizationScheme(4, null)).Quantize(new DenseMatrix(new float[16], 2, 8), h));
        Assert.Equal("hessian", ex.ParamName);
        Assert.Contains("7", ex.Message);
        Assert.Contains("8", ex.Message);
    }

    [Fact]
    public void MatrixShapeMustMatchItsData()
    {
        var ex = Assert.Throws<ArgumentException>(() => new DenseMatrix(new float[10], 3, 4));
        Assert.Equal("data", ex.ParamName);
    }
}
