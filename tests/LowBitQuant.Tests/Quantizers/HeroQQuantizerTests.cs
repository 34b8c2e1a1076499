using LowBitQuant.Internal;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

public class HeroQQuantizerTests
{
    private static readonly Lazy<SyntheticLayer> Layer = new(() => SyntheticLayer.Create(96, 256, 768, seed: 11));

    /// <summary>Records the Hessian it is given and delegates to RTN.</summary>
    private sealed class RecordingQuantizer(QuantizationScheme scheme, HessianKind required) : IQuantizer
    {
        private readonly RtnQuantizer _rtn = new(scheme);

        public List<HessianEstimate?> Seen { get; } = [];

        public QuantizationScheme Scheme => scheme;

        public HessianKind RequiredHessian => required;

        public QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default)
        {
            Seen.Add(hessian);
            return _rtn.Quantize(weights, null, compute, cancellationToken);
        }
    }

    private static double[] DenseTransform(InputTransform t)
    {
        int n = t.Size;
        var rows = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            rows[(i * n) + i] = 1;
        }

        t.TransformWeights(rows); // I·T = T
        return rows.Select(v => (double)v).ToArray();
    }

    private static double[] Multiply(double[] a, double[] b, int n, bool transposeB = false)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < n; k++)
            {
                double aik = a[(i * n) + k];
                for (int j = 0; j < n; j++)
                {
                    c[(i * n) + j] += aik * (transposeB ? b[(j * n) + k] : b[(k * n) + j]);
                }
            }
        }

        return c;
    }

    private static InputTransform RandomTransform(int n, TransformOrder order, int seed)
    {
        var d = TestData.Uniform(n, seed).Select(v => MathF.Exp(v)).ToArray();
        return new InputTransform(d, HadamardRotation.Create(n, seed), order);
    }

    [Theory]
    [InlineData(TransformOrder.ScaleThenRotate)]
    [InlineData(TransformOrder.RotateThenScale)]
    public void Conditioned_hessian_equals_dense_inverse_T_H_inverse_T_transposed(TransformOrder order)
    {
        const int N = 24;
        var layer = SyntheticLayer.Create(4, N, 200, seed: 3);
        var t = RandomTransform(N, order, 5);
        var ht = HeroQQuantizer.ConditionHessian(layer.Hessian, t);

        // T⁻¹ as a dense matrix: rows of I·T⁻¹ via RestoreWeights.
        var inv = new float[N * N];
        for (int i = 0; i < N; i++)
        {
            inv[(i * N) + i] = 1;
        }

        t.RestoreWeights(inv);
        var tinv = inv.Select(v => (double)v).ToArray();
        var h = layer.Hessian.Matrix.ToArray().Select(v => (double)v).ToArray();
        var expected = Multiply(Multiply(tinv, h, N), tinv, N, transposeB: true);
        double scale = h.Max(Math.Abs);
        for (int i = 0; i < N * N; i++)
        {
            Assert.Equal(expected[i], ht.Matrix.Span[i], 1e-4 * scale);
        }
    }

    [Theory]
    [InlineData(TransformOrder.ScaleThenRotate)]
    [InlineData(TransformOrder.RotateThenScale)]
    public void Error_maps_exactly_between_bases_and_outputs_are_invariant_before_quantization(TransformOrder order)
    {
        var layer = Layer.Value;
        int n = layer.Weights.Columns, rows = layer.Weights.Rows;
        var t = RandomTransform(n, order, 9);

        // (W·T)(T⁻¹·x) = W·x.
        var wt = layer.Weights.Clone();
        t.TransformWeights(wt.Data.Span);
        var x = layer.Activations.Data.Span[..(4 * n)].ToArray();
        var xt = (float[])x.Clone();
        t.TransformActivations(xt);
        for (int tok = 0; tok < 4; tok++)
        {
            for (int r = 0; r < rows; r += 7)
            {
                double y = 0, y2 = 0;
                for (int j = 0; j < n; j++)
                {
                    y += layer.Weights.GetRow(r)[j] * (double)x[(tok * n) + j];
                    y2 += wt.GetRow(r)[j] * (double)xt[(tok * n) + j];
                }

                Assert.Equal(y, y2, 1e-3 * (1 + Math.Abs(y)));
            }
        }

        // tr(ΔW·H·ΔWᵀ) = tr(E·H_T·Eᵀ) with ΔW = E·T⁻¹.
        var q = new RtnQuantizer(new QuantizationScheme(3, 64)).Quantize(wt, null);
        var e = q.Dequantize();
        var eData = e.Data.Span;
        var wtData = wt.Data.Span;
        for (int i = 0; i < eData.Length; i++)
        {
            eData[i] -= wtData[i];
        }

        var delta = e.Clone();
        t.RestoreWeights(delta.Data.Span);
        var zeros = DenseMatrix.Create(rows, n);
        double original = QuantizationError.ProxyLoss(zeros, delta.Data.Span, layer.Hessian);
        double conditioned = QuantizationError.ProxyLoss(zeros, e.Data.Span, HeroQQuantizer.ConditionHessian(layer.Hessian, t));
        Assert.Equal(original, conditioned, 1e-3 * original);
    }

    [Fact]
    public void Alpha_zero_without_rotation_reproduces_the_inner_quantizer_bit_for_bit()
    {
        var layer = Layer.Value;
        var scheme = new QuantizationScheme(3, 64);
        var rtn = new RtnQuantizer(scheme).Quantize(layer.Weights, null);
        var hq = new HeroQQuantizer(new HeroQOptions { Alphas = [0], UseRotation = false, IncludeIdentityCandidate = false }, new RtnQuantizer(scheme))
            .Quantize(layer.Weights, layer.Hessian);
        Assert.Null(hq.InputTransform);
        Assert.Equal(rtn.Codes.ToArray(), hq.Codes.ToArray());
        Assert.Equal(rtn.Scales.ToArray(), hq.Scales.ToArray());
        Assert.Equal(rtn.Zeros.ToArray(), hq.Zeros.ToArray());
        Assert.Equal("heroq(rtn)", hq.Diagnostics.Method);
    }

    [Fact]
    public void Scaling_d_by_a_power_of_two_leaves_the_original_basis_result_unchanged()
    {
        var layer = Layer.Value;
        int n = layer.Weights.Columns;
        var hq = new HeroQQuantizer(new HeroQOptions(), new RtnQuantizer(new QuantizationScheme(3, 64)));
        var d = HeroQQuantizer.ChannelScales(layer.Hessian.Diagonal.Span, 0.5)!;
        var rotation = HadamardRotation.Create(n, 1);
        var a = hq.QuantizeWithTransform(layer.Weights, layer.Hessian, new InputTransform(d, rotation));
        var b = hq.QuantizeWithTransform(layer.Weights, layer.Hessian, new InputTransform(d.Select(v => v * 4f).ToArray(), rotation));
        var wa = a.Result.Dequantize().Data.ToArray();
        var wb = b.Result.Dequantize().Data.ToArray();
        for (int i = 0; i < wa.Length; i++)
        {
            Assert.Equal(wa[i], wb[i], 1e-6f + (1e-5f * Math.Abs(wa[i])));
        }

        Assert.Equal(a.Score, b.Score, 1e-6 * a.Score);
    }

    [Fact]
    public void Alpha_one_gives_a_constant_conditioned_diagonal_equal_to_the_geometric_mean()
    {
        var layer = Layer.Value;
        var h = layer.Hessian.Diagonal.ToArray();
        var d = HeroQQuantizer.ChannelScales(h, 1.0)!;
        Assert.Equal(0, d.Average(v => Math.Log(v)), 1e-5); // geomean(d) = 1
        var ht = HeroQQuantizer.ConditionHessian(layer.Hessian, new InputTransform(d, null));
        double geomean = Math.Exp(h.Average(v => Math.Log(v)));
        Assert.All(ht.Diagonal.ToArray(), v => Assert.Equal(geomean, v, 1e-4 * geomean));
        Assert.Empty(HeroQQuantizer.ChannelScales(h, 0)!);
    }

    [Fact]
    public void Heroq_rtn_at_3_bits_beats_rtn_on_an_outlier_layer_and_never_loses_to_its_identity_candidate()
    {
        var layer = Layer.Value;
        var scheme = new QuantizationScheme(3, 64);
        var rtn = new RtnQuantizer(scheme).Quantize(layer.Weights, null);
        double rtnLoss = QuantizationError.ProxyLoss(layer.Weights, rtn.Dequantize().Data.Span, layer.Hessian);

        var q = new HeroQQuantizer(new HeroQOptions { Seed = 1 }, new RtnQuantizer(scheme)).Quantize(layer.Weights, layer.Hessian);
        var restored = q.Dequantize().Data.Span; // original basis
        double loss = QuantizationError.ProxyLoss(layer.Weights, restored, layer.Hessian);
        Assert.True(loss < 0.9 * rtnLoss, $"HeRo-Q(RTN) {loss} vs RTN {rtnLoss}");
        Assert.NotNull(q.InputTransform);
        Assert.Equal("heroq(rtn)", q.Diagnostics.Method);
        Assert.Contains(q.Diagnostics.Notes, s => s.StartsWith("chosen: alpha="));
        Assert.Contains(q.Diagnostics.Notes, s => s.Contains("hadamard;n=256"));
        Assert.Contains(q.Diagnostics.Notes, s => s.Contains("identity="));
    }

    [Fact]
    public void Inner_quantizer_sees_the_conditioned_hessian_or_its_diagonal()
    {
        var layer = SyntheticLayer.Create(16, 64, 256, seed: 2);
        var scheme = new QuantizationScheme(4, 32);
        foreach (var kind in new[] { HessianKind.Full, HessianKind.Diagonal })
        {
            var probe = new RecordingQuantizer(scheme, kind);
            var q = new HeroQQuantizer(new HeroQOptions { Alphas = [0.5], IncludeIdentityCandidate = false }, probe).Quantize(layer.Weights, layer.Hessian);
            var seen = Assert.Single(probe.Seen)!;
            Assert.Equal(kind, seen.Kind);
            var expected = HeroQQuantizer.ConditionHessian(layer.Hessian, q.InputTransform!);
            Assert.Equal(expected.Diagonal.ToArray(), seen.Diagonal.ToArray());
            if (kind == HessianKind.Full)
            {
                Assert.Equal(expected.Matrix.ToArray(), seen.Matrix.ToArray());
            }
        }
    }

    [Fact]
    public void Degenerate_alpha_is_skipped_and_reported_never_producing_nan()
    {
        var layer = Layer.Value;
        var scheme = new QuantizationScheme(3, 64);
        var q = new HeroQQuantizer(new HeroQOptions { Alphas = [1e6, 0.5] }, new RtnQuantizer(scheme)).Quantize(layer.Weights, layer.Hessian);
        Assert.Contains(q.Diagnostics.Notes, s => s.Contains("alpha=1000000 skipped"));
        Assert.True(Validation.AllFinite(q.Dequantize().Data.Span));

        var all = new HeroQQuantizer(new HeroQOptions { Alphas = [1e6], IncludeIdentityCandidate = false }, new RtnQuantizer(scheme)).Quantize(layer.Weights, layer.Hessian);
        Assert.NotNull(all.Diagnostics.Fallback);
        Assert.Null(all.InputTransform);

        var dead = HessianEstimate.FromDiagonal(new float[256], 10);
        Assert.Null(HeroQQuantizer.ChannelScales(dead.Diagonal.Span, 0.5));
    }

    [Fact]
    public void Unsupported_input_size_uses_the_reported_block_fallback()
    {
        var layer = SyntheticLayer.Create(8, 172, 300, seed: 4);
        var q = new HeroQQuantizer(new HeroQOptions { Alphas = [0.5], IncludeIdentityCandidate = false }, new RtnQuantizer(new QuantizationScheme(4, null)))
            .Quantize(layer.Weights, layer.Hessian);
        Assert.IsType<BlockHadamardRotation>(q.InputTransform!.Rotation);
        Assert.Contains(q.Diagnostics.Notes, s => s.Contains("block-diagonal Hadamard fallback"));
    }

    [Fact]
    public void Bad_input_is_rejected_with_the_argument_named()
    {
        var layer = SyntheticLayer.Create(8, 64, 100, seed: 5);
        var scheme = new QuantizationScheme(4, 32);
        var hq = new HeroQQuantizer(new HeroQOptions(), new RtnQuantizer(scheme));
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => hq.Quantize(layer.Weights, null)).ParamName);
        var wrong = HessianEstimate.FromDiagonal(new float[32], 1);
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => hq.Quantize(layer.Weights, wrong)).ParamName);
        var needsFull = new HeroQQuantizer(new HeroQOptions(), new RecordingQuantizer(scheme, HessianKind.Full));
        Assert.Equal("hessian", Assert.Throws<ArgumentException>(() => needsFull.Quantize(layer.Weights, layer.Hessian.ToDiagonal())).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions { Alphas = [double.NaN] }, new RtnQuantizer(scheme))).ParamName);
        Assert.Equal("inner", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions(), hq)).ParamName);
        Assert.Throws<ArgumentException>(() => new InputTransform(new float[10], HadamardRotation.Create(12, 1)));
    }
}

public class HeroQAroundGptqTests
{
    [Fact]
    public void HeroQAroundGptqBeatsGptqAloneAtThreeBitsOnOutlierChannels()
    {
        var layer = LowBitQuant.Internal.SyntheticLayer.Create(64, 256, 1024, seed: 8);
        var scheme = new QuantizationScheme(3, 64);
        var gptq = new GptqQuantizer(new GptqOptions(scheme));
        var heroq = new HeroQQuantizer(new HeroQOptions { Seed = 1 }, gptq);
        double Loss(IQuantizer q) => QuantizationError.ProxyLoss(layer.Weights, q.Quantize(layer.Weights, layer.Hessian).Dequantize().Data.Span, layer.Hessian);
        double plain = Loss(gptq), conditioned = Loss(heroq);
        Assert.True(conditioned < plain, $"HeRo-Q(GPTQ) {conditioned} ≥ GPTQ {plain}");
    }
}
