using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Pipeline;

public sealed class LayerwiseQuantizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-pipe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (LlamaModel Model, CalibrationSet Calibration) Load(int samples = 6, int length = 48, int seed = 0)
    {
        string modelPath = SharedData.Require("models/stories260K-hf");
        string corpus = SharedData.Require("corpora/janeausten");
        var model = LlamaModel.Open(modelPath);
        var tok = LowBitQuant.Formats.Llama2c.Llama2cTokenizer.Load(Path.Combine(modelPath, "tok512.bin"), model.Config.VocabSize);
        // Calibrate on the first 20k characters of five novels (the sixth, persuasion, is held out).
        var docs = Directory.GetFiles(corpus, "*.txt").Where(f => !f.EndsWith("persuasion.txt", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(f => tok.Encode(File.ReadAllText(f)[..20000], addBos: false, addEos: false)).ToArray();
        return (model, CalibrationSet.Sample(docs, samples, length, seed, LowBitQuant.Formats.Llama2c.Llama2cTokenizer.BosId));
    }

    [SkippableFact]
    public void EveryLinearIsQuantizedAndTheModelNowRunsTheDequantizedWeights()
    {
        var (model, calibration) = Load();
        using var _ = model;
        var events = new List<LayerwiseProgress>();
        var result = LayerwiseQuantizer.Run(model, calibration, new LayerwiseOptions(new RtnQuantizer(new QuantizationScheme(3, null)))
        {
            Progress = new SynchronousProgress<LayerwiseProgress>(events.Add),
        });
        Assert.Equal(5 * 7, result.Modules.Count);
        Assert.Equal(5 * 7, result.Reports.Count);
        Assert.All(result.Reports, r => Assert.Equal(calibration.TokenCount, r.Tokens));
        Assert.All(result.Reports, r => Assert.True(r.ProxyLoss > 0 && r.FullHessian));
        Assert.Equal(5 * 7 + 5, events.Count);
        foreach (var (module, q) in result.Modules)
        {
            Assert.Equal(q.Dequantize().Data.ToArray(), model.GetLinearWeights(module).Data.ToArray());
        }

        Assert.True(result.Timings.ForwardSeconds > 0 && result.Timings.HessianSeconds > 0 && result.Timings.QuantizerSeconds > 0);
    }

    [SkippableFact]
    public void GptqLosesLessThanRtnPerModuleOnRealActivations()
    {
        var scheme = new QuantizationScheme(3, 32);
        var (m1, calibration) = Load();
        using var rtnModel = m1;
        var rtn = LayerwiseQuantizer.Run(rtnModel, calibration, new LayerwiseOptions(new RtnQuantizer(scheme)));
        var (m2, _) = Load();
        using var gptqModel = m2;
        var gptq = LayerwiseQuantizer.Run(gptqModel, calibration, new LayerwiseOptions(new GptqQuantizer(new GptqOptions(scheme))));
        double Sum(LayerwiseResult r) => r.Reports.Sum(x => x.ProxyLoss);
        Assert.True(Sum(gptq) < Sum(rtn), $"GPTQ {Sum(gptq)} ≥ RTN {Sum(rtn)}");
    }

    [SkippableFact]
    public void AnInterruptedRunResumesToTheSameResultAsAnUninterruptedOne()
    {
        var quantizer = new GptqQuantizer(new GptqOptions(new QuantizationScheme(2, null)));
        var (reference, calibration) = Load();
        using (reference)
        {
            var full = LayerwiseQuantizer.Run(reference, calibration, new LayerwiseOptions(quantizer));

            string resume = Path.Combine(_dir, "state");
            var (m1, _) = Load();
            using var cts = new CancellationTokenSource();
            using (m1)
            {
                var options = new LayerwiseOptions(quantizer)
                {
                    ResumeDirectory = resume,
                    Progress = new SynchronousProgress<LayerwiseProgress>(p =>
                    {
                        if (p.Module is null && p.Layer == 2)
                        {
                            cts.Cancel();
                        }
                    }),
                };
                Assert.ThrowsAny<OperationCanceledException>(() => LayerwiseQuantizer.Run(m1, calibration, options, cts.Token));
            }

            Assert.Equal(3, Directory.GetFiles(resume, "layer-*.safetensors").Length);
            var (m2, _) = Load();
            using (m2)
            {
                var resumed = LayerwiseQuantizer.Run(m2, calibration, new LayerwiseOptions(quantizer) { ResumeDirectory = resume });
                Assert.Equal(3, resumed.ResumedLayers);
                Assert.Contains("Resuming", resumed.ResumeNote);
                foreach (var (module, q) in full.Modules)
                {
                    var r = resumed.Modules[module];
                    Assert.Equal(q.Codes.ToArray(), r.Codes.ToArray());
                    Assert.Equal(q.Scales.ToArray(), r.Scales.ToArray());
                    Assert.Equal(q.Zeros.ToArray(), r.Zeros.ToArray());
                }

                var tokens = calibration.Sequences[0];
                Assert.Equal(reference.Forward(tokens), m2.Forward(tokens));
            }
        }
    }

    [SkippableFact]
    public void ChangedCalibrationInvalidatesThePartialStateAndSaysSo()
    {
        var quantizer = new RtnQuantizer(new QuantizationScheme(4, null));
        string resume = Path.Combine(_dir, "state2");
        var (m1, c1) = Load(seed: 1);
        using (m1)
        {
            LayerwiseQuantizer.Run(m1, c1, new LayerwiseOptions(quantizer) { ResumeDirectory = resume });
        }

        var (m2, c2) = Load(seed: 2);
        using (m2)
        {
            var r = LayerwiseQuantizer.Run(m2, c2, new LayerwiseOptions(quantizer) { ResumeDirectory = resume });
            Assert.Equal(0, r.ResumedLayers);
            Assert.Contains("Discarded 5", r.ResumeNote);
        }
    }

    [SkippableFact]
    public void OnePassKeepsFullPrecisionActivationsUntilTheEnd()
    {
        var (m1, calibration) = Load();
        using var model = m1;
        var result = LayerwiseQuantizer.Run(model, calibration, new LayerwiseOptions(new RtnQuantizer(new QuantizationScheme(4, null))) { TrueSequential = false });
        Assert.Equal(35, result.Modules.Count);
        Assert.Equal(35, model.ReplacedModules.Count());
    }

    [Fact]
    public void CalibrationTextTooShortIsRefusedWithNumbers()
    {
        var ex = Assert.Throws<ArgumentException>(() => CalibrationSet.Sample([new int[10], new int[5]], samples: 5, sequenceLength: 8, seed: 0, bosTokenId: 1));
        Assert.Contains("too short", ex.Message);
        Assert.Contains("15 tokens", ex.Message);
    }

    [Fact]
    public void CalibrationSamplingIsReproducibleAndStartsWithBos()
    {
        var docs = new[] { Enumerable.Range(3, 500).ToArray(), Enumerable.Range(1000, 300).ToArray() };
        var a = CalibrationSet.Sample(docs, 10, 32, seed: 7, bosTokenId: 1);
        var b = CalibrationSet.Sample(docs, 10, 32, seed: 7, bosTokenId: 1);
        var c = CalibrationSet.Sample(docs, 10, 32, seed: 8, bosTokenId: 1);
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.NotEqual(a.Fingerprint, c.Fingerprint);
        Assert.All(a.Sequences, s => Assert.Equal(1, s[0]));
        Assert.All(a.Sequences, s => Assert.Equal(32, s.Length));
        // Windows never straddle two documents: consecutive ids within a window.
        Assert.All(a.Sequences, s => Assert.True(s.Skip(1).Zip(s.Skip(2)).All(p => p.Second == p.First + 1)));
    }

    /// <summary>IProgress that reports on the caller's thread (System.Progress posts to the thread pool).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
