using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Pipeline;

/// <summary>HeRo-Q's folded transforms (algorithms/heroq.md §5) on the real stories260K model: full-precision outputs are kept.</summary>
public sealed class HeroQFoldingTests : IDisposable
{
    private static readonly int[][] Tokens = [[1, 403, 261, 300, 42, 7, 99, 310, 12, 5], [1, 17, 250, 501, 3]];
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-heroqfold-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LlamaModel Open() => LlamaModel.Open(SharedData.Require("models/stories260K-hf"));

    private static HeroQQuantizer HeroQ(bool rotation = true, IQuantizer? inner = null) =>
        new(new HeroQOptions { UseRotation = rotation, Alphas = [0.25, 0.5, 1.0] }, inner ?? new RtnQuantizer(new QuantizationScheme(3, 8)));

    private static void AssertClose(float[][] expected, float[][] actual, double tolerance = 2e-4)
    {
        for (int s = 0; s < expected.Length; s++)
        {
            double worst = 0;
            for (int i = 0; i < expected[s].Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(expected[s][i] - actual[s][i]) / (1 + Math.Abs(expected[s][i])));
            }

            Assert.True(worst < tolerance, $"sequence {s}: worst relative logit difference {worst:G3}");
        }
    }

    private static float[] RandomScales(Random rng, int n) =>
        Enumerable.Range(0, n).Select(_ => (float)Math.Exp((rng.NextDouble() - 0.5) * 3)).ToArray();

    [SkippableFact]
    public void TheResidualRotationKeepsTheLogitsAndUntiesTheHead()
    {
        using var model = Open();
        Assert.True(model.Config.TiedEmbeddings);
        var before = model.Forward(Tokens);
        var embedding = model.GetWeights(LlamaTensor.TokenEmbedding, 0);
        var folding = new HeroQFolding(model, HeroQ(), null);
        Assert.NotNull(folding.Residual);
        folding.RotateResidual();

        Assert.NotEqual(embedding, model.GetWeights(LlamaTensor.TokenEmbedding, 0));
        Assert.All(model.GetWeights(LlamaTensor.AttentionNorm, 2), g => Assert.Equal(1f, g));
        Assert.False(folding.Weights.Config.TiedEmbeddings);
        AssertClose(before, model.Forward(Tokens));

        // The folded view reads what the model runs.
        var head = new float[512 * 64];
        folding.Weights.ReadTensor(LlamaTensor.OutputHead, 0, head);
        Assert.Equal(model.GetWeights(LlamaTensor.OutputHead, 0), head);
    }

    [SkippableFact]
    public void RandomBlockFoldsWithHeadRotationsKeepTheLogits()
    {
        using var model = Open();
        var before = model.Forward(Tokens);
        var folding = new HeroQFolding(model, HeroQ(), null);
        folding.RotateResidual();
        var rng = new Random(5);
        var c = model.Config;
        for (int layer = 0; layer < c.Layers; layer++)
        {
            var v = model.GetWeights(LlamaTensor.ValueProjection, layer);
            folding.Apply(layer, new BlockFold(RandomScales(rng, c.Dim), RandomScales(rng, c.KvDim), layer % 2 == 0, RandomScales(rng, c.Dim), RandomScales(rng, c.HiddenDim), "random"));
            Assert.NotEqual(v, model.GetWeights(LlamaTensor.ValueProjection, layer));
        }

        AssertClose(before, model.Forward(Tokens));
    }

    [SkippableFact]
    public void TheOutputProjectionsTransformWithoutItsValueFoldChangesTheLogits()
    {
        // The check above could fail: transforming o_proj alone (no v_proj fold) is not output-preserving.
        using var model = Open();
        var before = model.Forward(Tokens);
        var c = model.Config;
        var o = new DenseMatrix(model.GetWeights(LlamaTensor.OutputProjection, 1), c.Dim, c.QueryDim);
        new InputTransform(RandomScales(new Random(1), c.QueryDim), null).TransformWeights(o.Data.Span);
        model.ReplaceLinearWeights(c.GetModuleName(LlamaTensor.OutputProjection, 1), o);
        Assert.Throws<Xunit.Sdk.TrueException>(() => AssertClose(before, model.Forward(Tokens)));
    }

    [SkippableFact]
    public void EachChosenTransformScoresNoWorseThanTheIdentity()
    {
        using var model = Open();
        var heroq = HeroQ();
        var folding = new HeroQFolding(model, heroq, null);
        var c = model.Config;
        var rng = new Random(3);
        HessianEstimate Hessian(int n)
        {
            // Activations with a few strong channels, as real ones have.
            var x = new float[256 * n];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)(rng.NextDouble() - 0.5) * ((i % n) % 7 == 0 ? 12 : 1);
            }

            using var e = HessianEstimator.Create(HessianKind.Full, n);
            e.Accumulate(x);
            return e.Build();
        }

        var inputs = new Dictionary<int, HessianEstimate> { [0] = Hessian(c.Dim), [1] = Hessian(c.QueryDim), [2] = Hessian(c.Dim), [3] = Hessian(c.HiddenDim) };
        var fold = folding.Choose(1, inputs, null, CancellationToken.None);
        Assert.Contains("o_proj", fold.Summary);

        double Score(LlamaTensor t, int input, InputTransform? transform)
        {
            var (rows, columns) = c.GetShape(t);
            return heroq.QuantizeWithTransform(new DenseMatrix(model.GetWeights(t, 1), rows, columns), inputs[input], transform).Score;
        }

        InputTransform? D(float[] d) => d.Length == 0 ? null : new InputTransform(d, null);
        LlamaTensor[] qkv = [LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection];
        Assert.True(qkv.Sum(t => Score(t, 0, D(fold.Attention))) <= qkv.Sum(t => Score(t, 0, null)));
        LlamaTensor[] gateUp = [LlamaTensor.GateProjection, LlamaTensor.UpProjection];
        Assert.True(gateUp.Sum(t => Score(t, 2, D(fold.FeedForward))) <= gateUp.Sum(t => Score(t, 2, null)));
        Assert.True(Score(LlamaTensor.DownProjection, 3, D(fold.Down)) <= Score(LlamaTensor.DownProjection, 3, null));
        Assert.True(fold.Attention.Length > 0 || fold.FeedForward.Length > 0 || fold.Down.Length > 0 || fold.Output.Length > 0 || fold.OutputRotation,
            "with strong channels some diagonal should win somewhere: " + fold.Summary);
    }

    [SkippableFact]
    public void TheResidualRotationScoreIsTheScoreOfTheRotatedModel()
    {
        // ScoreResidual predicts the rotated model's statistics from the unrotated ones (H of x⊙γ → H of Rᵀx); check it against
        // statistics captured from the model after R₁ is folded. RTN's result does not depend on H, so the scores must agree.
        using var model = Open();
        var heroq = HeroQ();
        var folding = new HeroQFolding(model, heroq, null);
        const int layer = 1;
        var before = Capture(model, layer);
        var (plain, predicted) = folding.ScoreResidual(layer, before, null, CancellationToken.None);
        folding.RotateResidual();
        var after = Capture(model, layer);
        var c = model.Config;
        double Score(LlamaTensor t, int input)
        {
            var (rows, columns) = c.GetShape(t);
            return heroq.QuantizeWithTransform(new DenseMatrix(model.GetWeights(t, layer), rows, columns), after[input], null).Score;
        }

        double measured = Score(LlamaTensor.QueryProjection, 0) + Score(LlamaTensor.KeyProjection, 0) + Score(LlamaTensor.ValueProjection, 0)
            + Score(LlamaTensor.OutputProjection, 1) + Score(LlamaTensor.GateProjection, 2) + Score(LlamaTensor.UpProjection, 2) + Score(LlamaTensor.DownProjection, 3);
        Assert.True(Math.Abs(predicted - measured) < 1e-3 * measured, $"predicted {predicted}, measured {measured}");
        Assert.NotEqual(plain, predicted, 6);
    }

    /// <summary>Full H of each of the block's four linear inputs on the test tokens.</summary>
    private static Dictionary<int, HessianEstimate> Capture(LlamaModel model, int layer)
    {
        var estimators = new Dictionary<LlamaTensor, IHessianEstimator>();
        model.LinearInputObserver = new Observer((l, t, x) =>
        {
            if (l == layer && t is LlamaTensor.QueryProjection or LlamaTensor.OutputProjection or LlamaTensor.GateProjection or LlamaTensor.DownProjection)
            {
                if (!estimators.TryGetValue(t, out var e))
                {
                    estimators[t] = e = HessianEstimator.Create(HessianKind.Full, x.Columns);
                }

                e.Accumulate(x.Data.Span);
            }
        });
        model.Forward(Tokens);
        model.LinearInputObserver = null;
        return new Dictionary<int, HessianEstimate>
        {
            [0] = estimators[LlamaTensor.QueryProjection].Build(),
            [1] = estimators[LlamaTensor.OutputProjection].Build(),
            [2] = estimators[LlamaTensor.GateProjection].Build(),
            [3] = estimators[LlamaTensor.DownProjection].Build(),
        };
    }

    private sealed class Observer(Action<int, LlamaTensor, DenseMatrix> onInput) : ILinearInputObserver
    {
        public void OnLinearInput(int layer, string moduleName, LlamaTensor tensor, DenseMatrix activations) => onInput(layer, tensor, activations);
    }

    [SkippableFact]
    public void HeroQWritesStandardCheckpointsThatReloadToTheInMemoryModel()
    {
        using var model = Open();
        var calibration = Calibration(model, 4, 48);
        var result = LayerwiseQuantizer.Run(model, calibration, new LayerwiseOptions(HeroQ(inner: new GptqQuantizer(new GptqOptions(new QuantizationScheme(3, 4))))));
        Assert.All(result.Modules.Values, q => Assert.Null(q.InputTransform));
        Assert.All(result.Reports, r => Assert.Equal("heroq(gptq)", r.Method));
        Assert.All(result.Reports, r => Assert.True(double.IsFinite(r.ProxyLoss)));

        string output = Path.Combine(_dir, "dashq");
        LowBitQuant.Formats.Checkpoints.QuantizedCheckpointWriter.Write(result.Weights, result.Modules, LowBitQuant.Formats.Checkpoints.QuantizedCheckpointFormat.DashQ, output,
            new LowBitQuant.Formats.Checkpoints.QuantizedCheckpointOptions { Method = "heroq(gptq)", LibraryVersion = "test" });
        using var reloaded = LlamaModel.Open(output);
        Assert.Equal(result.Weights.Config.TiedEmbeddings, reloaded.Config.TiedEmbeddings); // untied only if R₁ was kept
        Assert.All(result.Modules.Values, q => Assert.Contains(q.Diagnostics.Notes, n => n.Contains("residual rotation", StringComparison.Ordinal)));
        AssertClose(model.Forward(Tokens), reloaded.Forward(Tokens), 1e-5);
    }

    [SkippableFact]
    public void AnInterruptedHeroQRunResumesToTheSameModel()
    {
        var heroq = HeroQ(inner: new GptqQuantizer(new GptqOptions(new QuantizationScheme(2, 8))));
        using var reference = Open();
        var calibration = Calibration(reference, 3, 32);
        var full = LayerwiseQuantizer.Run(reference, calibration, new LayerwiseOptions(heroq));

        string resume = Path.Combine(_dir, "state");
        using (var m1 = Open())
        {
            using var cts = new CancellationTokenSource();
            var options = new LayerwiseOptions(heroq)
            {
                ResumeDirectory = resume,
                Progress = new SyncProgress(p =>
                {
                    if (p.Module is null && p.Layer == 1)
                    {
                        cts.Cancel();
                    }
                }),
            };
            Assert.ThrowsAny<OperationCanceledException>(() => LayerwiseQuantizer.Run(m1, calibration, options, cts.Token));
        }

        using var m2 = Open();
        var resumed = LayerwiseQuantizer.Run(m2, calibration, new LayerwiseOptions(heroq) { ResumeDirectory = resume });
        Assert.Equal(2, resumed.ResumedLayers);
        foreach (var (module, q) in full.Modules)
        {
            Assert.Equal(q.Codes.ToArray(), resumed.Modules[module].Codes.ToArray());
            Assert.Equal(q.Scales.ToArray(), resumed.Modules[module].Scales.ToArray());
        }

        Assert.Equal(reference.Forward(Tokens[0]), m2.Forward(Tokens[0]));
        var a = new float[64];
        var b = new float[64];
        full.Weights.ReadTensor(LlamaTensor.FeedForwardNorm, 0, a);
        resumed.Weights.ReadTensor(LlamaTensor.FeedForwardNorm, 0, b);
        Assert.Equal(a, b);
    }

    private static CalibrationSet Calibration(LlamaModel model, int samples, int length)
    {
        string modelPath = SharedData.Require("models/stories260K-hf");
        var tok = LowBitQuant.Formats.Llama2c.Llama2cTokenizer.Load(Path.Combine(modelPath, "tok512.bin"), model.Config.VocabSize);
        string text = File.ReadAllText(Path.Combine(SharedData.Require("corpora/janeausten"), "emma.txt"))[..20000];
        return CalibrationSet.Sample([tok.Encode(text, addBos: false, addEos: false)], samples, length, 0, LowBitQuant.Formats.Llama2c.Llama2cTokenizer.BosId);
    }

    private sealed class SyncProgress(Action<LayerwiseProgress> report) : IProgress<LayerwiseProgress>
    {
        public void Report(LayerwiseProgress value) => report(value);
    }
}
