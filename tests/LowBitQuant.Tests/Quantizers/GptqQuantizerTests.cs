using LowBitQuant.Internal;
using LowBitQuant.Tests.TestUtilities;
using Xunit.Abstractions;

namespace LowBitQuant.Tests.Quantizers;

public class GptqQuantizerTests(ITestOutputHelper output)
{
    /// <summary>
    /// Bound on codes that may differ from the float64 reference. The solver carries the weights in float32, so a weight that
    /// lands within float32 rounding of a rounding midpoint can take the other code; that changes the row's later error feedback,
    /// so one tie can move a few more codes of the same row. 1 % of codes (and of grids) covers that with a wide margin; observed
    /// rates are printed by the tests.
    /// </summary>
    private const double TieFraction = 0.01;

    public static TheoryData<int, int, int, int?, bool, GptqColumnOrder> AgreementCases => new()
    {
        { 8, 64, 4, null, false, GptqColumnOrder.Natural },
        { 8, 64, 3, null, true, GptqColumnOrder.ActOrder },
        { 6, 70, 4, 16, false, GptqColumnOrder.Natural },
        { 7, 96, 3, 16, false, GptqColumnOrder.ActOrder },
        { 5, 100, 2, 32, true, GptqColumnOrder.ActOrderStaticGroups },
        { 9, 130, 3, 32, false, GptqColumnOrder.ActOrderStaticGroups },
        { 4, 96, 4, 32, false, GptqColumnOrder.GroupAware },
        { 3, 200, 3, 64, false, GptqColumnOrder.ActOrder },
    };

    [Theory]
    [MemberData(nameof(AgreementCases))]
    public void AgreesWithColumnByColumnReference(int rows, int columns, int bits, int? groupSize, bool symmetric, GptqColumnOrder order)
    {
        var layer = SyntheticLayer.Create(rows, columns, tokens: 4 * columns, seed: rows * columns);
        var scheme = new QuantizationScheme(bits, groupSize, symmetric);
        var q = new GptqQuantizer(new GptqOptions(scheme) { ColumnOrder = order, BlockSize = 32 }).Quantize(layer.Weights, layer.Hessian);
        var expected = GptqReference.Quantize(layer.Weights.Data.ToArray(), rows, columns, layer.Hessian.Matrix.ToArray(), bits, groupSize, symmetric, order);

        int codeDiff = CountDifferent(q.Codes.Span, expected.Codes);
        int scaleDiff = CountDifferent(q.Scales.Span, expected.Scales);
        output.WriteLine($"codes differing: {codeDiff} of {expected.Codes.Length}; scales differing: {scaleDiff} of {expected.Scales.Length}");
        Assert.True(codeDiff <= TieFraction * expected.Codes.Length, $"{codeDiff} codes differ");
        Assert.True(scaleDiff <= Math.Max(1, TieFraction * expected.Scales.Length), $"{scaleDiff} scales differ");
        Assert.Equal(expected.GroupIndex, q.GroupIndex.ToArray());
        Assert.Equal("gptq", q.Diagnostics.Method);
        Assert.Equal(0.01, q.Diagnostics.Damping);
    }

    [Fact]
    public void BlockSizeDoesNotChangeTheResult()
    {
        var layer = SyntheticLayer.Create(12, 150, tokens: 600, seed: 3);
        foreach (var order in new[] { GptqColumnOrder.Natural, GptqColumnOrder.ActOrder, GptqColumnOrder.ActOrderStaticGroups })
        {
            var scheme = new QuantizationScheme(3, 32);
            byte[] Run(int b) => new GptqQuantizer(new GptqOptions(scheme) { BlockSize = b, ColumnOrder = order }).Quantize(layer.Weights, layer.Hessian).Codes.ToArray();
            var reference = Run(128);
            foreach (int b in new[] { 1, 4, 150 })
            {
                int diff = CountDifferent<byte>(Run(b), reference);
                output.WriteLine($"{order} B = {b}: {diff} codes differ from B = 128");
                Assert.True(diff <= TieFraction * reference.Length, $"{order}, B = {b}: {diff} codes differ");
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ProxyLossIsBelowRtnOnAnLlmLikeLayer(int bits)
    {
        var layer = SyntheticLayer.Create(64, 256, tokens: 1024, seed: 11);
        var scheme = new QuantizationScheme(bits, 64);
        double rtn = Loss(layer, new RtnQuantizer(scheme).Quantize(layer.Weights));
        foreach (var order in Enum.GetValues<GptqColumnOrder>())
        {
            double gptq = Loss(layer, new GptqQuantizer(new GptqOptions(scheme) { ColumnOrder = order }).Quantize(layer.Weights, layer.Hessian));
            output.WriteLine($"{bits} bits, {order}: GPTQ {gptq:G4} vs RTN {rtn:G4} ({gptq / rtn:P1})");
            Assert.True(gptq < 0.8 * rtn, $"{order}: GPTQ loss {gptq} is not clearly below RTN's {rtn}");
        }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData(16, false)]
    [InlineData(32, true)]
    public void DiagonalHessianGivesRtnExactly(int? groupSize, bool symmetric)
    {
        const int rows = 10, columns = 96;
        var w = TestData.Normal(rows * columns, seed: 5);
        var d = TestData.Uniform(columns, seed: 6).Select(x => 0.5f + Math.Abs(x)).ToArray();
        var h = new float[columns * columns];
        for (int j = 0; j < columns; j++)
        {
            h[(j * columns) + j] = d[j];
        }

        var scheme = new QuantizationScheme(3, groupSize, symmetric);
        var weights = new DenseMatrix(w, rows, columns);
        var rtn = new RtnQuantizer(scheme).Quantize(weights);
        var gptq = new GptqQuantizer(new GptqOptions(scheme) { ColumnOrder = GptqColumnOrder.Natural }).Quantize(weights, HessianEstimate.FromMatrix(h, columns, 100));
        Assert.Equal(rtn.Codes.ToArray(), gptq.Codes.ToArray());
        Assert.Equal(rtn.Scales.ToArray(), gptq.Scales.ToArray());
        Assert.Equal(rtn.Zeros.ToArray(), gptq.Zeros.ToArray());

        // Identity H: all diagonal entries tie, the stable act-order keeps the natural order, so act-order gives RTN too.
        var identity = new float[columns * columns];
        for (int j = 0; j < columns; j++)
        {
            identity[(j * columns) + j] = 1;
        }

        var act = new GptqQuantizer(new GptqOptions(scheme) { ColumnOrder = GptqColumnOrder.ActOrder }).Quantize(weights, HessianEstimate.FromMatrix(identity, columns, 100));
        Assert.Equal(rtn.Dequantize().Data.ToArray(), act.Dequantize().Data.ToArray());
    }

    [Fact]
    public void ActOrderGroupIndexFollowsThePermutationAndDequantizesToTheSolversQ()
    {
        const int rows = 6, columns = 80, g = 16;
        var layer = SyntheticLayer.Create(rows, columns, tokens: 320, seed: 21);
        var scheme = new QuantizationScheme(4, g);
        var q = new GptqQuantizer(new GptqOptions(scheme) { ColumnOrder = GptqColumnOrder.ActOrder }).Quantize(layer.Weights, layer.Hessian);
        var perm = GptqReference.Order(layer.Hessian.Diagonal.ToArray().Select(x => (double)x).ToArray(), GptqColumnOrder.ActOrder, g, true);
        Assert.Equal(Enumerable.Range(0, columns).ToArray(), perm.Order().ToArray());
        Assert.NotEqual(Enumerable.Range(0, columns).ToArray(), perm); // outlier channels move to the front
        var gidx = q.GroupIndex.ToArray();
        for (int k = 0; k < columns; k++)
        {
            Assert.Equal(k / g, gidx[perm[k]]);
        }

        Assert.All(gidx.GroupBy(x => x), grp => Assert.Equal(g, grp.Count()));

        // Dequantizing through g_idx (QuantizedTensor) gives the solver's fake-quantized Q, here the reference's.
        var expected = GptqReference.Quantize(layer.Weights.Data.ToArray(), rows, columns, layer.Hessian.Matrix.ToArray(), 4, g, false, GptqColumnOrder.ActOrder);
        Assert.Equal(expected.Dequantized, q.Dequantize().Data.ToArray());

        // Static groups: the same processing order, but trivial g_idx and groups of original columns.
        var s = new GptqQuantizer(new GptqOptions(scheme)).Quantize(layer.Weights, layer.Hessian);
        Assert.True(s.GroupIndex.IsEmpty);
    }

    [Theory]
    [InlineData(GptqColumnOrder.Natural, false)]
    [InlineData(GptqColumnOrder.ActOrder, true)]
    [InlineData(GptqColumnOrder.ActOrderStaticGroups, false)]
    [InlineData(GptqColumnOrder.GroupAware, true)]
    public void DeadColumnsDequantizeToZero(GptqColumnOrder order, bool symmetric)
    {
        const int rows = 5, columns = 64;
        var layer = SyntheticLayer.Create(rows, columns, tokens: 256, seed: 8);
        int[] dead = [0, 7, 31, 63];
        var x = layer.Activations.Data.ToArray();
        for (int t = 0; t < 256; t++)
        {
            foreach (int j in dead)
            {
                x[(t * columns) + j] = 0;
            }
        }

        var h = Gram(x, 256, columns);
        var q = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 16, symmetric)) { ColumnOrder = order }).Quantize(layer.Weights, h);
        var dq = q.Dequantize().Data.ToArray();
        for (int r = 0; r < rows; r++)
        {
            foreach (int j in dead)
            {
                Assert.Equal(0f, dq[(r * columns) + j]);
            }
        }

        Assert.Contains(q.Diagnostics.Notes, n => n.Contains("4 dead column"));
    }

    [Fact]
    public void RankDeficientHessianEscalatesDampingAndReportsIt()
    {
        // Fewer tokens than channels: H is singular; with no initial damping the factorisation must fail and escalate.
        var layer = SyntheticLayer.Create(8, 96, tokens: 40, seed: 2);
        var q = new GptqQuantizer(new GptqOptions(new QuantizationScheme(4, 32)) { Dampening = 0 }).Quantize(layer.Weights, layer.Hessian);
        Assert.True(q.Diagnostics.DampingEscalations >= 1);
        Assert.Equal(0.01 * q.Diagnostics.DampingEscalations, q.Diagnostics.Damping!.Value, 12);
        Assert.Null(q.Diagnostics.Fallback);
        Assert.True(double.IsFinite(Loss(layer, q)));

        // The default damping handles the same H at once.
        var d = new GptqQuantizer(new GptqOptions(new QuantizationScheme(4, 32))).Quantize(layer.Weights, layer.Hessian);
        Assert.Equal(0, d.Diagnostics.DampingEscalations);
    }

    [Fact]
    public void NegativeDiagonalNoiseEscalatesUntilPositiveDefinite()
    {
        var layer = SyntheticLayer.Create(4, 48, tokens: 400, seed: 9);
        var h = layer.Hessian.Matrix.ToArray();
        double mean = layer.Hessian.Diagonal.ToArray().Average();

        // Column 5 loses its correlations and gets a negative diagonal −0.025·mean(diag): its pivot is h_55 + λ, so 0.01 and 0.02
        // fail and 0.03 succeeds (mean(diag) drops by only ~2 % with the change): two escalations.
        for (int j = 0; j < 48; j++)
        {
            h[(5 * 48) + j] = h[(j * 48) + 5] = 0;
        }

        h[(5 * 48) + 5] = (float)(-0.025 * mean);
        var logger = new CountingLogger();
        var q = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 16)), logger).Quantize(layer.Weights, HessianEstimate.FromMatrix(h, 48, 400));
        double newMean = h.Where((_, i) => i % 49 == 0).Average(x => (double)x);
        Assert.True(0.03 * newMean > 0.025 * mean && 0.02 * newMean < 0.025 * mean);
        Assert.Equal(2, q.Diagnostics.DampingEscalations);
        Assert.Equal(0.03, q.Diagnostics.Damping!.Value, 12);
        Assert.Equal(2, logger.Warnings);
    }

    [Fact]
    public void TinyNegativeRoundingNoiseWithoutDampingEscalatesOnce()
    {
        var layer = SyntheticLayer.Create(4, 32, tokens: 300, seed: 10);
        var h = layer.Hessian.Matrix.ToArray();
        for (int j = 0; j < 32; j++)
        {
            h[(3 * 32) + j] = h[(j * 32) + 3] = 0;
        }

        h[(3 * 32) + 3] = -1e-7f;
        var q = new GptqQuantizer(new GptqOptions(new QuantizationScheme(4, null)) { Dampening = 0 }).Quantize(layer.Weights, HessianEstimate.FromMatrix(h, 32, 300));
        Assert.Equal(1, q.Diagnostics.DampingEscalations);
        Assert.Equal(0.01, q.Diagnostics.Damping);
    }

    [Fact]
    public void HopelessHessianThrowsNamingTheDampingOrFallsBackWhenAllowed()
    {
        const int rows = 3, columns = 16;
        var w = TestData.Normal(rows * columns, seed: 1);
        var h = new float[columns * columns];
        for (int j = 0; j < columns; j++)
        {
            h[(j * columns) + j] = j == 4 ? -1000f : 1f;
        }

        var weights = new DenseMatrix(w, rows, columns);
        var estimate = HessianEstimate.FromMatrix(h, columns, 10);
        var options = new GptqOptions(new QuantizationScheme(4, 8)) { MaxDampening = 0.05 };
        var ex = Assert.Throws<ArgumentException>(() => new GptqQuantizer(options).Quantize(weights, estimate));
        Assert.Equal("hessian", ex.ParamName);
        Assert.Contains("0.01, 0.02, 0.03, 0.04, 0.05", ex.Message);

        var q = new GptqQuantizer(new GptqOptions(options.Scheme) { MaxDampening = 0.05, AllowRtnFallback = true }).Quantize(weights, estimate);
        Assert.StartsWith("rtn:", q.Diagnostics.Fallback);
        Assert.Equal(new RtnQuantizer(options.Scheme).Quantize(weights).Codes.ToArray(), q.Codes.ToArray());
    }

    [Fact]
    public void MissingCalibrationIsAnErrorUnlessTheFallbackIsOptedIn()
    {
        var weights = new DenseMatrix(TestData.Normal(4 * 32, seed: 2), 4, 32);
        var scheme = new QuantizationScheme(4, 16);
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => new GptqQuantizer(new GptqOptions(scheme)).Quantize(weights, null)).ParamName);
        var logger = new CountingLogger();
        var q = new GptqQuantizer(new GptqOptions(scheme) { AllowRtnFallback = true }, logger).Quantize(weights, null);
        Assert.Contains("no calibration", q.Diagnostics.Fallback);
        Assert.Equal(1, logger.Warnings);
        Assert.Equal(new RtnQuantizer(scheme).Quantize(weights).Codes.ToArray(), q.Codes.ToArray());
    }

    [Fact]
    public void BadHessiansAndOptionsAreRejected()
    {
        var weights = new DenseMatrix(TestData.Normal(2 * 8, seed: 3), 2, 8);
        var gptq = new GptqQuantizer(new GptqOptions(new QuantizationScheme(4, null)));
        var wrongSize = HessianEstimate.FromMatrix(new float[49], 7, 10);
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => gptq.Quantize(weights, wrongSize)).ParamName);
        var diagonal = HessianEstimate.FromDiagonal(Enumerable.Repeat(1f, 8).ToArray(), 10);
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => gptq.Quantize(weights, diagonal)).ParamName);
        var nan = new float[64];
        nan[9] = float.NaN;
        Assert.Throws<ArgumentException>(() => HessianEstimate.FromMatrix(nan, 8, 10));

        var scheme = new QuantizationScheme(4);
        Assert.Equal("Dampening", Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions(scheme) { Dampening = -0.1 }).ParamName);
        Assert.Equal("DampeningIncrement", Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions(scheme) { DampeningIncrement = 0 }).ParamName);
        Assert.Equal("MaxDampening", Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions(scheme) { MaxDampening = double.NaN }).ParamName);
        Assert.Equal("BlockSize", Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions(scheme) { BlockSize = 0 }).ParamName);
        Assert.Equal("ColumnOrder", Assert.Throws<ArgumentOutOfRangeException>(() => new GptqOptions(scheme) { ColumnOrder = (GptqColumnOrder)9 }).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new GptqQuantizer(new GptqOptions(scheme) { Dampening = 0.5, MaxDampening = 0.1 })).ParamName);
    }

    [Fact]
    public void RowsAreIndependent()
    {
        const int rows = 9, columns = 140;
        var layer = SyntheticLayer.Create(rows, columns, tokens: 560, seed: 12);
        var gptq = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 32)) { ColumnOrder = GptqColumnOrder.ActOrder, BlockSize = 64 });
        var all = gptq.Quantize(layer.Weights, layer.Hessian);
        foreach (int r in new[] { 0, 4, 8 })
        {
            var one = gptq.Quantize(new DenseMatrix(layer.Weights.GetRow(r).ToArray(), 1, columns), layer.Hessian);
            Assert.Equal(all.Codes.Slice(r * columns, columns).ToArray(), one.Codes.ToArray());
            Assert.Equal(all.Scales.Slice(r * all.GroupCount, all.GroupCount).ToArray(), one.Scales.ToArray());
        }
    }

    [Fact]
    public void GridFactsHoldAndCancellationIsHonoured()
    {
        var layer = SyntheticLayer.Create(8, 64, tokens: 256, seed: 13);
        var q = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 16, symmetric: true))).Quantize(layer.Weights, layer.Hessian);
        Assert.All(q.Zeros.ToArray(), z => Assert.Equal(4f, z));
        Assert.All(q.Codes.ToArray(), c => Assert.InRange(c, 0, 7));
        var a = new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 16))).Quantize(layer.Weights, layer.Hessian);
        Assert.All(a.Zeros.ToArray(), z => Assert.True(z == MathF.Round(z) && z >= 0 && z <= 7));

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new GptqQuantizer(new GptqOptions(new QuantizationScheme(3))).Quantize(layer.Weights, layer.Hessian, null, cts.Token));
    }

    [Fact]
    public void ClipSearchNeverRaisesTheGridErrorOfStaticGroups()
    {
        var layer = SyntheticLayer.Create(16, 128, tokens: 512, seed: 14);
        var scheme = new QuantizationScheme(3, 32);
        var plain = new GptqQuantizer(new GptqOptions(scheme)).Quantize(layer.Weights, layer.Hessian);
        var searched = new GptqQuantizer(new GptqOptions(scheme) { ClipSearch = new ClipSearch() }).Quantize(layer.Weights, layer.Hessian);
        Assert.Contains("clip search (unweighted)", searched.Diagnostics.Notes);
        Assert.NotEqual(plain.Scales.ToArray(), searched.Scales.ToArray());

        // Every searched scale is a shrunk (never a widened) min–max scale.
        var ps = plain.Scales.Span;
        var ss = searched.Scales.Span;
        for (int i = 0; i < ps.Length; i++)
        {
            Assert.True(ss[i] <= ps[i] * 1.001f, $"scale {i}: {ss[i]} > {ps[i]}");
        }
    }

    private static double Loss(SyntheticLayer layer, QuantizedTensor q) =>
        QuantizationError.ProxyLoss(layer.Weights, q.Dequantize().Data.Span, layer.Hessian);

    private static HessianEstimate Gram(float[] x, int tokens, int n)
    {
        var h = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < tokens; t++)
                {
                    s += (double)x[(t * n) + i] * x[(t * n) + j];
                }

                h[(i * n) + j] = (float)(s / tokens);
            }
        }

        return HessianEstimate.FromMatrix(h, n, tokens);
    }

    private sealed class CountingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public int Warnings { get; private set; }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == Microsoft.Extensions.Logging.LogLevel.Warning)
            {
                Warnings++;
            }
        }
    }

    private static int CountDifferent<T>(ReadOnlySpan<T> a, T[] b)
        where T : IEquatable<T>
    {
        Assert.Equal(b.Length, a.Length);
        int n = 0;
        for (int i = 0; i < b.Length; i++)
        {
            n += a[i].Equals(b[i]) ? 0 : 1;
        }

        return n;
    }
}
