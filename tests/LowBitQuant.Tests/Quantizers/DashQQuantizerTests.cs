using CsCheck;
using LowBitQuant.Internal;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

/// <summary>DASH-Q against its scalar reference, and the laws of algorithms/dashq.md §8.</summary>
public class DashQQuantizerTests
{
    private static QuantizedTensor Run(DashQTestCase c, DashQOptions o, float[]? h = null) =>
        new DashQQuantizer(o).Quantize(new DenseMatrix(c.Weights(), c.Rows, c.Columns), HessianEstimate.FromDiagonal(h ?? c.Diagonal(), 64));

    private static void AssertSameAsReference(DashQTestCase c, DashQOptions o)
    {
        var w = c.Weights();
        var h = c.Diagonal();
        var q = new DashQQuantizer(o).Quantize(new DenseMatrix(w, c.Rows, c.Columns), HessianEstimate.FromDiagonal(h, 64));
        var (codes, scales, zeros) = DashQReference.Solve(w, c.Rows, c.Columns, h, o);
        Assert.Equal(codes, q.Codes.ToArray());
        Assert.Equal(scales, q.Scales.ToArray());
        Assert.Equal(zeros, q.Zeros.ToArray());
    }

    [Fact]
    public void VectorisedSolveMatchesTheScalarReferenceBitForBit() =>
        DashQTestCase.Gen.Select(CsCheck.Gen.Int[0, 15]).Sample((c, variant) =>
            AssertSameAsReference(c, c.Options(iterations: 1 + variant, earlyStop: (variant & 1) == 0, fp16: (variant & 2) == 0, integerZero: (variant & 4) != 0)), iter: 150);

    [Theory]
    [InlineData(1, 1, 2, null)]
    [InlineData(1, 2, 3, 2)]
    [InlineData(9, 7, 8, 3)]
    [InlineData(17, 33, 4, 32)]
    [InlineData(8, 100, 2, 32)]
    public void RangeSearchMatchesTheScalarReference(int rows, int columns, int bits, int? group)
    {
        var c = new DashQTestCase(rows, columns, bits, group, rows * 31 + columns, 0.5, 1e-2);
        AssertSameAsReference(c, c.Options(fp16: true));
        var withSearch = new DashQOptions(c.Scheme) { RangeCandidates = 41 };
        AssertSameAsReference(c, withSearch);
    }

    [Fact]
    public void UniformDiagonalGivesTheUnweightedFit() =>
        DashQTestCase.Gen.Select(CsCheck.Gen.OneOf(1f, 0.37f, 5e3f)).Sample((c, value) =>
        {
            var o = c.Options(fp16: true);
            var h = Enumerable.Repeat(value, c.Columns).ToArray();
            var q = Run(c, o, h);
            var w = c.Weights();
            int width = c.Scheme.GroupWidth(c.Columns), groups = c.Scheme.GroupCount(c.Columns);
            for (int r = 0; r < c.Rows; r++)
            {
                for (int g = 0; g < groups; g++)
                {
                    int start = g * width, len = Math.Min(width, c.Columns - start);
                    var uniform = Enumerable.Repeat((float)(1.0 / len), len).ToArray();
                    var expected = DashQReference.SolveGroup(w.AsSpan((r * c.Columns) + start, len), uniform, o);
                    Assert.Equal(expected.Scale, q.Scales.Span[(r * groups) + g]);
                    Assert.Equal(expected.Zero, q.Zeros.Span[(r * groups) + g]);
                    Assert.Equal(expected.Codes, q.Codes.Slice((r * c.Columns) + start, len).ToArray());
                }
            }
        }, iter: 60);

    // Powers of two scale every float exactly, so the result must not change by a single bit; other factors round h itself.
    [Fact]
    public void ScalingTheDiagonalChangesNothing() =>
        DashQTestCase.Gen.Select(CsCheck.Gen.OneOf(4f, 0.125f, 1024f, 1f / 65536)).Sample((c, factor) =>
        {
            var o = c.Options(fp16: true);
            var h = c.Diagonal();
            var a = Run(c, o, h);
            var b = Run(c, o, h.Select(v => v * factor).ToArray());
            Assert.Equal(a.Codes.ToArray(), b.Codes.ToArray());
            Assert.Equal(a.Scales.ToArray(), b.Scales.ToArray());
            Assert.Equal(a.Zeros.ToArray(), b.Zeros.ToArray());
        }, iter: 60);

    [Fact]
    public void EveryCodeIsTheNearestOnTheStoredGrid() =>
        DashQTestCase.Gen.Sample(c =>
        {
            var q = Run(c, c.Options(fp16: true));
            var w = c.Weights();
            int groups = q.GroupCount;
            for (int i = 0; i < w.Length; i++)
            {
                int r = i / c.Columns, g = q.GroupOf(i % c.Columns);
                double s = q.Scales.Span[(r * groups) + g], z = q.Zeros.Span[(r * groups) + g];
                double chosen = Math.Abs(w[i] - (s * (q.Codes.Span[i] - z)));
                for (int code = 0; code <= c.Scheme.MaxCode; code++)
                {
                    double other = Math.Abs(w[i] - (s * (code - z)));
                    Assert.True(chosen <= other + (1e-5 * s), $"{c}: element {i} code {q.Codes.Span[i]} err {chosen} but code {code} err {other}");
                }
            }
        }, iter: 80);

    [Fact]
    public void ConvergedParametersSolveTheNormalEquations() =>
        DashQTestCase.Gen.Sample(c =>
        {
            var o = new DashQOptions(c.Scheme) { Iterations = 200, Damping = 1, Ridge = c.Ridge, RoundToFloat16 = false };
            var q = Run(c, o);
            var w = c.Weights();
            var p = DashQReference.Weights(c.Diagonal(), c.Scheme.GroupWidth(c.Columns));
            ForEachGroup(c, q, (x, pg, codes, s, z) =>
            {
                if (codes.ToArray().Distinct().Count() < 2 || x.ToArray().Distinct().Count() < 2)
                {
                    return; // constant groups and groups where every code is equal are outside the normal equations.
                }

                double m = -s * z, gs = 0, gm = 0, sizeS = c.Ridge * s, sizeM = 0;
                for (int j = 0; j < x.Length; j++)
                {
                    double e = x[j] - ((s * codes[j]) + m);
                    gs += pg[j] * codes[j] * e;
                    gm += pg[j] * e;
                    // The magnitudes of what the solver sums (p·q·x, p·q·s·q, p·q·m): float32 rounding is relative to these, which
                    // can be far larger than |q·x| when s·q and m nearly cancel.
                    double magnitude = Math.Abs(x[j]) + Math.Abs(s * codes[j]) + Math.Abs(m);
                    sizeS += pg[j] * Math.Abs(codes[j]) * magnitude;
                    sizeM += pg[j] * magnitude;
                }

                gs -= c.Ridge * s;
                // Zero gradient of Σ p (w − s q − m)² + λ s², up to float32 rounding relative to the size of its terms.
                Assert.True(Math.Abs(gs) <= 1e-4 * sizeS, $"{c}: ∂/∂s = {gs}, terms {sizeS}");
                Assert.True(Math.Abs(gm) <= 1e-4 * sizeM, $"{c}: ∂/∂m = {gm}, terms {sizeM}");
            });
        }, iter: 60);

    [Fact]
    public void DampedObjectiveNeverIncreases() =>
        DashQTestCase.Gen.Select(CsCheck.Gen.Bool).Sample((c, earlyStop) =>
        {
            double[]? previous = null;
            for (int t = 0; t <= 14; t++)
            {
                var q = Run(c, c.Options(iterations: t, earlyStop: earlyStop));
                var current = new List<double>();
                ForEachGroup(c, q, (x, pg, codes, s, z) =>
                    current.Add(DashQReference.WeightedError(x, pg, codes, s, z) + (c.Ridge * s * s)));
                if (previous is not null)
                {
                    for (int k = 0; k < current.Count; k++)
                    {
                        Assert.True(current[k] <= (previous[k] * (1 + 1e-5)) + 1e-12, $"{c}: group {k} objective rose from {previous[k]} to {current[k]} at iteration {t}");
                    }
                }

                previous = [.. current];
            }
        }, iter: 25);

    [Fact]
    public void NeverWorseThanTheMinMaxStart() =>
        DashQTestCase.Gen.Sample(c =>
        {
            var o = new DashQOptions(c.Scheme) { Damping = c.Damping, Ridge = 0, RoundToFloat16 = false };
            var q = Run(c, o);
            ForEachGroup(c, q, (x, pg, codes, s, z) =>
            {
                float min = x.ToArray().Min(), max = x.ToArray().Max();
                if (min == max)
                {
                    return;
                }

                double s0 = (max - min) / (double)c.Scheme.MaxCode;
                var minMaxCodes = x.ToArray().Select(v => (byte)Math.Clamp(Math.Round((v - min) / s0, MidpointRounding.ToEven), 0, c.Scheme.MaxCode)).ToArray();
                double start = DashQReference.WeightedError(x, pg, minMaxCodes, s0, -min / s0);
                double end = DashQReference.WeightedError(x, pg, codes, s, z);
                Assert.True(end <= (start * (1 + 1e-5)) + 1e-14, $"{c}: {end} > min–max {start}");
            });
        }, iter: 100);

    [Fact]
    public void RepresentableGroupsAreRecovered() =>
        Gen.Select(Gen.Int[2, 4], Gen.Int[2, 64], Gen.Int[0, 100_000], Gen.OneOf(1.0, 0.5, 0.3)).Sample((bits, len, seed, alpha) =>
        {
            var rng = new Random(seed);
            int maxq = (1 << bits) - 1;
            float s0 = (float)(0.001 + rng.NextDouble()), z0 = (float)(rng.NextDouble() * maxq);
            var w = new float[len];
            for (int j = 0; j < len; j++)
            {
                int code = j == 0 ? 0 : j == 1 ? maxq : rng.Next(maxq + 1);
                w[j] = s0 * (code - z0);
            }

            var h = Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble() + 0.01f).ToArray();
            var o = new DashQOptions(new QuantizationScheme(bits, null)) { Damping = alpha, Ridge = 0, RoundToFloat16 = false };
            var d = new DashQQuantizer(o).Quantize(new DenseMatrix(w, 1, len), HessianEstimate.FromDiagonal(h, 1)).Dequantize().Data.ToArray();
            for (int j = 0; j < len; j++)
            {
                Assert.True(Math.Abs(d[j] - w[j]) <= 1e-4 * s0, $"bits {bits} len {len} α {alpha}: element {j} {d[j]} vs {w[j]}");
            }
        }, iter: 200);

    [Fact]
    public void CodesStayInRangeAndScalesArePositiveAndFinite() =>
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 70], Gen.OneOf(1e-30f, 1e-6f, 1f, 1e20f)).Sample((bits, columns, magnitude) =>
        {
            var w = TestData.Normal(5 * columns, columns + bits, magnitude);
            foreach (bool integerZero in new[] { false, true })
            {
                var o = new DashQOptions(new QuantizationScheme(bits, 16)) { IntegerZeroPoint = integerZero };
                var q = new DashQQuantizer(o).Quantize(new DenseMatrix(w, 5, columns), HessianEstimate.FromDiagonal(TestData.Uniform(columns, bits, 1f).Select(Math.Abs).ToArray(), 8));
                Assert.All(q.Codes.ToArray(), code => Assert.InRange(code, 0, (1 << bits) - 1));
                Assert.All(q.Scales.ToArray(), s => Assert.True(s > 0 && float.IsFinite(s), $"scale {s}"));
                Assert.All(q.Zeros.ToArray(), z => Assert.True(float.IsFinite(z)));
            }
        }, iter: 60);

    [Fact]
    public void RowsAreSolvedIndependently() =>
        DashQTestCase.Gen.Sample(c =>
        {
            var o = c.Options(fp16: true);
            var w = c.Weights();
            var h = HessianEstimate.FromDiagonal(c.Diagonal(), 1);
            var all = new DashQQuantizer(o).Quantize(new DenseMatrix(w, c.Rows, c.Columns), h);
            int r = c.Rows / 2, groups = all.GroupCount;
            var alone = new DashQQuantizer(o).Quantize(new DenseMatrix(w.AsSpan(r * c.Columns, c.Columns).ToArray(), 1, c.Columns), h);
            Assert.Equal(all.Codes.Slice(r * c.Columns, c.Columns).ToArray(), alone.Codes.ToArray());
            Assert.Equal(all.Scales.Slice(r * groups, groups).ToArray(), alone.Scales.ToArray());
            Assert.Equal(all.Zeros.Slice(r * groups, groups).ToArray(), alone.Zeros.ToArray());
        }, iter: 60);

    [Fact]
    public void IntegerZerosCostAtMostHalfAStepOverRealZeros() =>
        DashQTestCase.Gen.Sample(c =>
        {
            var real = Run(c, c.Options());
            var integer = Run(c, c.Options(integerZero: true));
            Assert.True(integer.HasIntegerZeros);
            Assert.All(integer.Zeros.ToArray(), z => Assert.InRange(z, 0, c.Scheme.MaxCode));
            var realErrors = new List<(double Error, double Scale, double Zero)>();
            ForEachGroup(c, real, (x, pg, codes, s, z) => realErrors.Add((DashQReference.WeightedError(x, pg, codes, s, z), s, z)));
            int k = 0;
            ForEachGroup(c, integer, (x, pg, codes, s, z) =>
            {
                var (e, sr, zr) = realErrors[k++];
                if (zr < 0 || zr > c.Scheme.MaxCode)
                {
                    return; // the bound assumes the real zero lies on the code range
                }

                // Same codes with the zero rounded move every weight by ≤ s/2; the code step and scale refits only lower the error.
                double bound = Math.Sqrt(e) + (0.5 * sr);
                double actual = Math.Sqrt(DashQReference.WeightedError(x, pg, codes, s, z));
                Assert.True(actual <= (bound * (1 + 1e-5)) + 1e-9, $"{c}: group {k - 1} rms {actual} > {bound}");
            });
        }, iter: 80);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void ProxyLossIsBelowRtnOnAnLlmLikeLayer(int bits)
    {
        var layer = SyntheticLayer.Create(64, 256, 1024, seed: 11);
        var scheme = new QuantizationScheme(bits, bits == 2 ? 32 : 64);
        var dashq = new DashQQuantizer(new DashQOptions(scheme)).Quantize(layer.Weights, layer.Hessian);
        var rtn = new RtnQuantizer(scheme).Quantize(layer.Weights);
        double lossDashq = QuantizationError.ProxyLoss(layer.Weights, dashq.Dequantize().Data.Span, layer.Hessian);
        double lossRtn = QuantizationError.ProxyLoss(layer.Weights, rtn.Dequantize().Data.Span, layer.Hessian);
        Assert.True(lossDashq < lossRtn, $"{bits} bits: DASH-Q {lossDashq} ≥ RTN {lossRtn}");
    }

    [Fact]
    public void AFullHessianIsUsedThroughItsDiagonal()
    {
        var layer = SyntheticLayer.Create(16, 96, 256, seed: 5);
        var quantizer = new DashQQuantizer(new DashQOptions(new QuantizationScheme(2, 32)));
        var full = quantizer.Quantize(layer.Weights, layer.Hessian);
        var diagonal = quantizer.Quantize(layer.Weights, layer.Hessian.ToDiagonal());
        Assert.Equal(diagonal.Codes.ToArray(), full.Codes.ToArray());
        Assert.Equal(diagonal.Scales.ToArray(), full.Scales.ToArray());
        Assert.Contains(full.Diagnostics.Notes, n => n.Contains("diagonal is used"));
        Assert.Equal("dashq", full.Diagnostics.Method);
    }

    [Fact]
    public void DeadChannelsAndDeadGroupsFallBackToTheUnweightedFit()
    {
        var w = TestData.Normal(3 * 40, seed: 8);
        var h = TestData.Uniform(40, seed: 9).Select(v => Math.Abs(v) + 0.1f).ToArray();
        h.AsSpan(16, 16).Clear(); // group 1 is dead
        h[3] = 0;                 // one dead channel in group 0
        var o = new DashQOptions(new QuantizationScheme(3, 16)) { RoundToFloat16 = false };
        var q = new DashQQuantizer(o).Quantize(new DenseMatrix(w, 3, 40), HessianEstimate.FromDiagonal(h, 4));
        var uniform = Enumerable.Repeat(1f / 16, 16).ToArray();
        for (int r = 0; r < 3; r++)
        {
            var expected = DashQReference.SolveGroup(w.AsSpan((r * 40) + 16, 16), uniform, o);
            Assert.Equal(expected.Scale, q.Scales.Span[(r * 3) + 1]);
            Assert.Equal(expected.Codes, q.Codes.Slice((r * 40) + 16, 16).ToArray());
        }

        Assert.Contains(q.Diagnostics.Notes, n => n.StartsWith("17 dead", StringComparison.Ordinal));

        // A layer without any curvature is the plain least-squares fit everywhere.
        var dead = new DashQQuantizer(o).Quantize(new DenseMatrix(w, 3, 40), HessianEstimate.FromDiagonal(new float[40], 4));
        Assert.Contains(dead.Diagnostics.Notes, n => n.Contains("3 column group(s) without curvature"));
        var (codes, _, _) = DashQReference.Solve(w, 3, 40, Enumerable.Repeat(1f, 40).ToArray(), o);
        Assert.Equal(codes, dead.Codes.ToArray());
    }

    [Theory]
    [InlineData(0f, true)]
    [InlineData(0.375f, true)]
    [InlineData(-2.5f, true)]
    [InlineData(0.0123456f, false)]
    [InlineData(-7.77e-3f, false)]
    public void ConstantGroupsAreExact(float value, bool fp16)
    {
        var w = TestData.Normal(2 * 20, seed: 3);
        w.AsSpan(0, 8).Fill(value);
        w.AsSpan(28, 12).Fill(value); // the partial last group of row 1
        var o = new DashQOptions(new QuantizationScheme(2, 8)) { RoundToFloat16 = fp16 };
        var q = new DashQQuantizer(o).Quantize(new DenseMatrix(w, 2, 20), HessianEstimate.FromDiagonal(Enumerable.Repeat(1f, 20).ToArray(), 1));
        var d = q.Dequantize().Data.Span;
        for (int j = 0; j < 8; j++)
        {
            Assert.Equal(value, d[j]);
        }

        for (int j = 28; j < 40; j++)
        {
            Assert.Equal(value, d[j]);
        }
    }

    [Fact]
    public void RangeSearchIsNeverWorseThanMinMax()
    {
        var layer = SyntheticLayer.Create(32, 128, 256, seed: 2);
        var o = new DashQOptions(new QuantizationScheme(2, 32)) { Ridge = 0, RangeCandidates = 41, RoundToFloat16 = false };
        var q = new DashQQuantizer(o).Quantize(layer.Weights, layer.Hessian);
        var c = new DashQTestCase(32, 128, 2, 32, 0, 0.5, 0);
        var p = DashQReference.Weights(layer.Hessian.Diagonal.ToArray(), 32);
        var w = layer.Weights.Data.ToArray();
        for (int r = 0; r < 32; r++)
        {
            for (int g = 0; g < 4; g++)
            {
                var x = w.AsSpan((r * 128) + (g * 32), 32);
                float min = x.ToArray().Min(), max = x.ToArray().Max();
                double s0 = (max - min) / 3.0;
                var mm = x.ToArray().Select(v => (byte)Math.Clamp(Math.Round((v - min) / s0), 0, 3)).ToArray();
                var pg = p.AsSpan(g * 32, 32);
                double start = DashQReference.WeightedError(x, pg, mm, s0, -min / s0);
                double end = DashQReference.WeightedError(x, pg, q.Codes.Slice((r * 128) + (g * 32), 32).Span, q.Scales.Span[(r * 4) + g], q.Zeros.Span[(r * 4) + g]);
                Assert.True(end <= start * (1 + 1e-5), $"row {r} group {g}: {end} > {start}");
            }
        }

        Assert.Contains(q.Diagnostics.Notes, n => n.Contains("range search"));
        _ = c;
    }

    /// <summary>Calls <paramref name="check"/> with (weights, p, codes, s, z) of every (row, group) in row-major order.</summary>
    private static void ForEachGroup(DashQTestCase c, QuantizedTensor q, GroupCheck check)
    {
        var w = c.Weights();
        int width = c.Scheme.GroupWidth(c.Columns), groups = q.GroupCount;
        var p = DashQReference.Weights(c.Diagonal(), width);
        for (int r = 0; r < c.Rows; r++)
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * width, len = Math.Min(width, c.Columns - start);
                check(w.AsSpan((r * c.Columns) + start, len), p.AsSpan(start, len), q.Codes.Span.Slice((r * c.Columns) + start, len), q.Scales.Span[(r * groups) + g], q.Zeros.Span[(r * groups) + g]);
            }
        }
    }

    private delegate void GroupCheck(ReadOnlySpan<float> weights, ReadOnlySpan<float> p, ReadOnlySpan<byte> codes, double scale, double zero);
}
