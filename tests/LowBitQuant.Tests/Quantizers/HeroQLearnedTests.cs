using LowBitQuant.Internal;
using LowBitQuant.Quantizers;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

public class HeroQLearnedTests
{
    private static readonly Lazy<SyntheticLayer> Layer = new(() => SyntheticLayer.Create(48, 128, 512, seed: 21));

    /// <summary>
    /// The hand-derived STE gradient against central differences of the loss with the rounding state frozen (Q = x + fixed offset
    /// where unclamped, Q = fixed value where clamped), for both orders, with and without rotation. Points away from the grid's fit
    /// point so some entries clamp and the mask matters.
    /// </summary>
    [Theory]
    [InlineData(TransformOrder.ScaleThenRotate, true, 2)]
    [InlineData(TransformOrder.RotateThenScale, true, 2)]
    [InlineData(TransformOrder.ScaleThenRotate, false, 3)]
    [InlineData(TransformOrder.RotateThenScale, false, 3)]
    public void Analytic_gradient_matches_finite_differences_with_rounding_frozen(TransformOrder order, bool rotate, int bits)
    {
        const int N = 16;
        var layer = SyntheticLayer.Create(5, N, 64, seed: 4);
        var rotation = rotate ? HadamardRotation.Create(N, 9) : null;
        var learner = new HeroQLearner(layer.Weights, layer.Hessian, rotation, order, new QuantizationScheme(bits, 8), new double[N]);
        var u = TestData.Normal(N, 17, 0.4f).Select(v => (double)v).ToArray();
        var frozen = learner.Freeze(u);
        Assert.Contains(false, frozen.Unclamped); // the clamped branch is exercised
        Assert.Contains(true, frozen.Unclamped);

        var g = new double[N];
        double loss = learner.LossAndGradient(u, g, frozen);
        Assert.Equal(loss, learner.LossAndGradient(u, default), 10); // frozen at u reproduces the real rounding at u
        double scale = g.Max(Math.Abs);
        Assert.True(scale > 0);
        const double Step = 1e-5;
        for (int j = 0; j < N; j++)
        {
            var up = (double[])u.Clone();
            var down = (double[])u.Clone();
            up[j] += Step;
            down[j] -= Step;
            double fd = (learner.LossAndGradient(up, default, frozen) - learner.LossAndGradient(down, default, frozen)) / (2 * Step);
            Assert.True(Math.Abs(fd - g[j]) <= 1e-6 * scale, $"channel {j}: analytic {g[j]:G9}, finite difference {fd:G9}");
        }
    }

    [Fact]
    public void Learning_lowers_the_fixed_grid_loss_and_keeps_geomean_one()
    {
        var layer = Layer.Value;
        int n = layer.Weights.Columns;
        var learner = new HeroQLearner(layer.Weights, layer.Hessian, HadamardRotation.Create(n, 1), TransformOrder.ScaleThenRotate, new QuantizationScheme(3, 64), new double[n]);
        var (u, loss, start) = learner.Optimize(new double[n], 60, 0.02, CancellationToken.None);
        Assert.True(loss < start, $"learned {loss} vs start {start}");
        Assert.Equal(0, u.Average(), 9);
        Assert.Equal(loss, learner.LossAndGradient(u, default), 9);
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void Learned_variant_is_never_worse_than_the_search_and_says_which_won(int bits, bool gptq)
    {
        var layer = Layer.Value;
        var scheme = new QuantizationScheme(bits, 64);
        IQuantizer inner = gptq ? new GptqQuantizer(new GptqOptions(scheme)) : new RtnQuantizer(scheme);
        double Loss(QuantizedTensor q) => QuantizationError.ProxyLoss(layer.Weights, q.Dequantize().Data.Span, layer.Hessian);

        var searched = new HeroQQuantizer(new HeroQOptions { Seed = 3 }, inner).Quantize(layer.Weights, layer.Hessian);
        var learned = new HeroQQuantizer(new HeroQOptions { Seed = 3, LearnedSteps = 40, LearningRate = 0.02 }, inner).Quantize(layer.Weights, layer.Hessian);

        Assert.True(Loss(learned) <= Loss(searched), $"learned {Loss(learned)} vs search {Loss(searched)}");
        var note = Assert.Single(learned.Diagnostics.Notes, s => s.StartsWith("learned d won", StringComparison.Ordinal) || s.StartsWith("search won", StringComparison.Ordinal));
        Assert.Contains("%", note);
        if (note.StartsWith("learned d won", StringComparison.Ordinal))
        {
            Assert.True(Loss(learned) < Loss(searched));
            Assert.Contains(learned.Diagnostics.Notes, s => s.StartsWith("chosen: learned d", StringComparison.Ordinal));
        }
        else
        {
            Assert.Equal(Loss(searched), Loss(learned));
        }
    }

    [Fact]
    public void Options_are_validated()
    {
        var rtn = new RtnQuantizer(new QuantizationScheme(3, 64));
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions { LearnedSteps = -1 }, rtn)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions { LearnedSteps = 5, LearningRate = 0 }, rtn)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions { LearnedSteps = 5, LearningRate = double.NaN }, rtn)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new HeroQQuantizer(new HeroQOptions { LearningRate = double.PositiveInfinity }, rtn)).ParamName);
        Assert.Equal(0, new HeroQOptions().LearnedSteps); // off by default
    }
}
