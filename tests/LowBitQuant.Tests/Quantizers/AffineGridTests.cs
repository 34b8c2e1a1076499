using CsCheck;
using LowBitQuant.Quantizers;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

public class AffineGridTests
{
    [Theory]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    [InlineData(8, true)]
    [InlineData(3, true)]
    public void MinMaxFitMatchesReferenceFindParams(int bits, bool symmetric)
    {
        var scheme = new QuantizationScheme(bits, 32, symmetric);
        for (int seed = 0; seed < 50; seed++)
        {
            var x = TestData.Normal(1 + (seed * 7 % 64), seed);
            Assert.Equal(Reference.FitMinMax(x, bits, symmetric), AffineGrid.Fit(x, scheme));
        }
    }

    [Fact]
    public void SymmetricZeroIsHalfTheCodeRangeAndAsymmetricZeroIsAnIntegerCode()
    {
        Gen.Float[-10f, 10f].Array[1, 100].Select(Gen.Int[2, 8]).Sample((x, bits) =>
        {
            var (_, z) = AffineGrid.Fit(x, new QuantizationScheme(bits, null, symmetric: true));
            Assert.Equal(1 << (bits - 1), z);
            var (s, za) = AffineGrid.Fit(x, new QuantizationScheme(bits, null, symmetric: false));
            Assert.True(s > 0);
            Assert.Equal(MathF.Round(za), za);
            Assert.InRange(za, 0, (1 << bits) - 1);
        });
    }

    [Fact]
    public void ScalesAreRepresentableInFloat16()
    {
        // Ranges whose scale is within fp16's range (≥ 1e-3 here) get an exactly representable scale.
        Gen.Float[-3f, 3f].Array[1, 64].Sample(x =>
        {
            var (s, _) = AffineGrid.Fit([.. x, 0.01f], new QuantizationScheme(3, null));
            Assert.Equal(s, (float)(Half)s);
        });
    }

    [Fact]
    public void RangesBelowFloat16KeepAPositiveFloatScaleInsteadOfZero()
    {
        var (s, _) = AffineGrid.Fit([1e-9f, -2e-9f], new QuantizationScheme(4, null));
        Assert.True(s > 0);
        Assert.Equal(0f, (float)(Half)s);
    }

    [Fact]
    public void AllZeroGroupDequantizesToExactZero()
    {
        var scheme = new QuantizationScheme(3, null);
        var (s, z) = AffineGrid.Fit(new float[16], scheme);
        Assert.Equal(0f, Reference.Dequantize(Reference.Quantize(0f, s, z, scheme.MaxCode), s, z));
    }

    [Fact]
    public void SymmetricGroupWithoutNegativesKeepsItsPositiveRange()
    {
        // Reference quirk (gptq.md §4): xmin stays 0 and positives clip at about xmax/2. Our default mirrors the range instead.
        var x = new[] { 0.1f, 0.5f, 1.0f };
        var (s, z) = AffineGrid.Fit(x, new QuantizationScheme(4, null, symmetric: true));
        float top = Reference.Dequantize(Reference.Quantize(1.0f, s, z, 15), s, z);
        Assert.True(top > 0.85f, $"top level {top} clips the largest weight");
    }

    [Fact]
    public void ClipSearchIsNeverWorseThanMinMaxOnItsOwnObjective()
    {
        var search = new ClipSearch();
        Gen.Float[-1f, 1f].Array[2, 64].Select(Gen.Int[2, 4], Gen.Bool).Sample((x, bits, sym) =>
        {
            var scheme = new QuantizationScheme(bits, null, sym);
            double Err((float S, float Z) g) => x.Sum(v => Math.Pow(Math.Abs(Reference.Dequantize(Reference.Quantize(v, g.S, g.Z, scheme.MaxCode), g.S, g.Z) - v), search.Norm));
            Assert.True(Err(AffineGrid.FitWithSearch(x, default, scheme, search)) <= Err(AffineGrid.Fit(x, scheme)) + 1e-9);
        });
    }

    [Fact]
    public void ClipSearchReducesErrorOnHeavyTailedGroups()
    {
        // One outlier stretches the min–max range; shrinking trades the outlier for the bulk.
        var x = TestData.Normal(512, seed: 5, scale: 0.1f);
        x[17] = 0.7f;
        var scheme = new QuantizationScheme(3, null);
        double Mse((float S, float Z) g) => x.Sum(v => Math.Pow(Reference.Dequantize(Reference.Quantize(v, g.S, g.Z, 7), g.S, g.Z) - v, 2));
        Assert.True(Mse(AffineGrid.FitWithSearch(x, default, scheme, new ClipSearch(norm: 2))) < 0.8 * Mse(AffineGrid.Fit(x, scheme)));
    }

    [Fact]
    public void WeightedSearchFavoursHeavilyWeightedColumns()
    {
        var x = TestData.Normal(64, seed: 9, scale: 0.1f);
        x[3] = 1.5f;
        var weights = Enumerable.Repeat(1f, 64).ToArray();
        weights[3] = 1000f;
        var scheme = new QuantizationScheme(2, null);
        var search = new ClipSearch(norm: 2);
        double Weighted((float S, float Z) g) => x.Select((v, j) => weights[j] * Math.Pow(Reference.Dequantize(Reference.Quantize(v, g.S, g.Z, 3), g.S, g.Z) - v, 2)).Sum();
        var weighted = AffineGrid.FitWithSearch(x, weights, scheme, search);
        var plain = AffineGrid.FitWithSearch(x, default, scheme, search);
        Assert.True(Weighted(weighted) <= Weighted(plain));
        Assert.True(Weighted(weighted) < Weighted(plain) || weighted == plain);
    }

    [Theory]
    [InlineData(0, 0.8, 2.4, "steps")]
    [InlineData(100, 1.0, 2.4, "maxShrink")]
    [InlineData(100, 0.0, 2.4, "maxShrink")]
    [InlineData(100, 0.8, 0.0, "norm")]
    public void InvalidClipSearchOptionsThrowNamingTheOption(int steps, double shrink, double norm, string name) =>
        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(() => new ClipSearch(steps, shrink, norm)).ParamName);
}
