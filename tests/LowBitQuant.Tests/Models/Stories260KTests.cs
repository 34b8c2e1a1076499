using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Models;

public class Stories260KTests
{
    private const string KnownGreedy = " Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

    [SkippableFact]
    public void GreedyDecodingFromBosReproducesTheKnownStory()
    {
        string path = SharedData.Require("models/stories260K/stories260K.bin");
        var tok = Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 512);
        using LlamaModel model = LlamaModel.Open(path);
        int[] generated = LlamaGenerator.GenerateGreedy(model, [Llama2cTokenizer.BosId], steps: 60);
        string text = " " + tok.Decode([Llama2cTokenizer.BosId, .. generated]);
        Assert.StartsWith(KnownGreedy, text);
    }

    [SkippableFact]
    public void RuntimeMatchesFloat64ReferenceOnRealWeights()
    {
        using LlamaModel model = LlamaModel.Open(SharedData.Require("models/stories260K/stories260K.bin"));
        int[] tokens = [1, 410, 300, 280, 77, 499, 3, 260, 261, 300, 1, 2];
        float[] logits = model.Forward(tokens);
        double[] expected = ReferenceLlama.Forward(model.Source, tokens);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], logits[i], 2e-3);
        }
    }

    [SkippableFact]
    public void PerplexityOnAShortAustenPassageIsFiniteAndBosWindowsScoreEveryToken()
    {
        var tok = Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 512);
        string text = File.ReadAllText(SharedData.Require("corpora/janeausten/persuasion.txt"))[..3000];
        int[] doc = tok.Encode(text, addBos: false, addEos: false);
        using LlamaModel model = LlamaModel.Open(SharedData.Require("models/stories260K/stories260K.bin"));
        var options = new EvaluationOptions { ContextLength = 128, MaxTokensPerDocument = 300, BosTokenId = Llama2cTokenizer.BosId };
        var reports = new List<EvaluationProgress>();
        EvaluationResult r = LlamaEvaluator.Evaluate(model, [doc], options, progress: new SyncProgress(reports));
        Assert.Equal(300, r.TokensScored);
        Assert.Equal(3, r.Windows); // 127 + 127 + 46 text tokens
        Assert.True(r.MeanNll is > 0.5 and < 7.0, $"mean NLL {r.MeanNll}");
        Assert.Equal(300, reports[^1].TokensScored);

        // The first window's NLL recomputed directly from the logits.
        int[] window = [1, .. doc[..127]];
        float[] logits = model.Forward(window);
        double nll = 0;
        for (int t = 0; t + 1 < window.Length; t++)
        {
            double max = logits.Skip(t * 512).Take(512).Max();
            double lse = max + Math.Log(logits.Skip(t * 512).Take(512).Sum(v => Math.Exp(v - max)));
            nll += lse - logits[(t * 512) + window[t + 1]];
        }

        EvaluationResult first = LlamaEvaluator.Evaluate(model, [doc], new EvaluationOptions { ContextLength = 128, MaxTokensPerDocument = 127, BosTokenId = 1 });
        Assert.Equal(nll / 127, first.MeanNll, 1e-4);
    }

    [SkippableFact]
    public void SameModelAsQuantizedGivesZeroKlAndFullAgreement_PerturbedGivesPositiveKl()
    {
        var tok = Llama2cTokenizer.Load(SharedData.Require("models/stories260K/tok512.bin"), 512);
        int[] doc = tok.Encode(File.ReadAllText(SharedData.Require("corpora/janeausten/emma.txt"))[..2000], false, false);
        string path = SharedData.Require("models/stories260K/stories260K.bin");
        using LlamaModel fp = LlamaModel.Open(path);
        using LlamaModel q = LlamaModel.Open(path);
        var options = new EvaluationOptions { ContextLength = 64, MaxTokensPerDocument = 200, BosTokenId = 1 };
        EvaluationResult same = LlamaEvaluator.Evaluate(fp, [doc], options, q);
        Assert.Equal(0.0, same.MeanKlDivergence!.Value, 1e-6);
        Assert.Equal(1.0, same.Top1Agreement);
        Assert.Equal(same.MeanNll, same.QuantizedMeanNll!.Value, 1e-9);

        DenseMatrix w = q.GetLinearWeights("model.layers.2.mlp.up_proj");
        var rng = new Random(1);
        Span<float> span = w.Data.Span;
        for (int i = 0; i < span.Length; i++)
        {
            span[i] += (float)(rng.NextDouble() - 0.5) * 0.2f;
        }

        q.ReplaceLinearWeights("model.layers.2.mlp.up_proj", w);
        EvaluationResult diff = LlamaEvaluator.Evaluate(fp, [doc], options, q);
        Assert.True(diff.MeanKlDivergence > 1e-4, $"KL {diff.MeanKlDivergence}");
        Assert.True(diff.Top1Agreement < 1.0);
        Assert.Equal(same.MeanNll, diff.MeanNll, 1e-9);
    }

    [SkippableFact]
    public void EvaluationRejectsTooShortDocumentsAndMismatchedModels()
    {
        using LlamaModel model = LlamaModel.Open(SharedData.Require("models/stories260K/stories260K.bin"));
        Assert.Equal("documents", Assert.Throws<ArgumentException>(() => LlamaEvaluator.Evaluate(model, [[5]])).ParamName);
        Assert.Equal("documents", Assert.Throws<ArgumentException>(() => LlamaEvaluator.Evaluate(model, [Array.Empty<int>()], new EvaluationOptions { BosTokenId = 1 })).ParamName);
        Assert.Equal("documents", Assert.Throws<ArgumentOutOfRangeException>(() => LlamaEvaluator.Evaluate(model, [[5, 512]])).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => LlamaEvaluator.Evaluate(model, [[5, 6]], new EvaluationOptions { ContextLength = 513 })).ParamName);
        using var other = new InMemoryLlamaWeights(new LlamaConfig(64, 172, 5, 8, 4, 256, 512) { TiedEmbeddings = true }, 1);
        using var otherModel = new LlamaModel(other);
        Assert.Equal("quantized", Assert.Throws<ArgumentException>(() => LlamaEvaluator.Evaluate(model, [[5, 6]], null, otherModel)).ParamName);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => LlamaEvaluator.Evaluate(model, [[5, 6, 7]], null, null, null, cts.Token));
    }

    private sealed class SyncProgress(List<EvaluationProgress> sink) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => sink.Add(value);
    }
}
