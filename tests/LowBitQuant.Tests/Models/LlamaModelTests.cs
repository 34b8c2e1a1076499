using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Models;

public class LlamaModelTests
{
    private static LlamaConfig SmallConfig(RopeConvention convention, bool tied, int heads = 4, int kvHeads = 2) =>
        new(dim: 16, hiddenDim: 23, layers: 2, heads: heads, kvHeads: kvHeads, vocabSize: 37, maxSequenceLength: 24)
        {
            RopeConvention = convention,
            TiedEmbeddings = tied,
            RopeTheta = 500.0,
        };

    [Theory]
    [InlineData(RopeConvention.AdjacentPairs, true, 4, 2)]
    [InlineData(RopeConvention.HalfRotation, false, 4, 2)]
    [InlineData(RopeConvention.HalfRotation, true, 4, 4)]
    [InlineData(RopeConvention.AdjacentPairs, false, 4, 1)]
    public void ForwardMatchesReferenceModel(RopeConvention convention, bool tied, int heads, int kvHeads)
    {
        using var source = new InMemoryLlamaWeights(SmallConfig(convention, tied, heads, kvHeads), seed: 3);
        using var model = new LlamaModel(source);
        int[] tokens = [1, 5, 36, 0, 7, 7, 19, 2, 30, 11, 4, 1, 1, 9];
        float[] logits = model.Forward(tokens);
        double[] expected = ReferenceLlama.Forward(source, tokens);
        Assert.Equal(expected.Length, logits.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], logits[i], 1e-4);
        }
    }

    [Fact]
    public void BatchedSequencesEqualSeparateRuns()
    {
        using var source = new InMemoryLlamaWeights(SmallConfig(RopeConvention.HalfRotation, tied: true), seed: 5);
        using var model = new LlamaModel(source);
        int[][] seqs = [[1, 2, 3, 4, 5, 6, 7], [9], [1, 30, 20, 10]];
        float[][] batched = model.Forward(seqs);
        for (int s = 0; s < seqs.Length; s++)
        {
            float[] alone = model.Forward(seqs[s]);
            Assert.Equal(alone.Length, batched[s].Length);
            for (int i = 0; i < alone.Length; i++)
            {
                Assert.Equal(alone[i], batched[s][i], 1e-5f);
            }
        }
    }

    [Fact]
    public void CausalMaskMakesEarlierLogitsIndependentOfLaterTokens()
    {
        using var source = new InMemoryLlamaWeights(SmallConfig(RopeConvention.AdjacentPairs, tied: true), seed: 8);
        using var model = new LlamaModel(source);
        float[] a = model.Forward([1, 4, 9, 16, 25, 36]);
        float[] b = model.Forward([1, 4, 9, 0, 3, 2]);
        int v = source.Config.VocabSize;
        Assert.Equal(a.AsSpan(0, 3 * v).ToArray(), b.AsSpan(0, 3 * v).ToArray());
        Assert.NotEqual(a.AsSpan(3 * v, v).ToArray(), b.AsSpan(3 * v, v).ToArray());
    }

    [Fact]
    public void StreamingWeightsGivesSameLogitsAndRereadsBlocks()
    {
        using var source = new InMemoryLlamaWeights(SmallConfig(RopeConvention.HalfRotation, tied: false), seed: 9);
        using var cached = new LlamaModel(source);
        using var streamed = new LlamaModel(source, keepWeightsInMemory: false);
        int[] tokens = [3, 1, 4, 1, 5, 9, 2, 6];
        float[] a = cached.Forward(tokens);
        _ = cached.Forward(tokens);
        int readsBefore = source.Reads;
        float[] b = streamed.Forward(tokens);
        int firstPass = source.Reads - readsBefore;
        _ = streamed.Forward(tokens);
        Assert.Equal(a, b);
        Assert.Equal(2 * firstPass, source.Reads - readsBefore); // every pass streams every tensor again
    }

    private sealed class Capture : ILinearInputObserver
    {
        public List<(int Layer, string Module, LlamaTensor Tensor, float[] Data, int Rows, int Columns)> Calls { get; } = [];

        public void OnLinearInput(int layer, string moduleName, LlamaTensor tensor, DenseMatrix activations) =>
            Calls.Add((layer, moduleName, tensor, activations.Data.ToArray(), activations.Rows, activations.Columns));
    }

    [Fact]
    public void ObserverSeesEveryLinearInputInOrderWithHfNames()
    {
        var config = SmallConfig(RopeConvention.HalfRotation, tied: true);
        using var source = new InMemoryLlamaWeights(config, seed: 11);
        using var model = new LlamaModel(source);
        var capture = new Capture();
        model.LinearInputObserver = capture;
        model.Forward([[1, 2, 3], [4, 5]]);
        string[] suffixes = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];
        Assert.Equal(config.Layers * 7, capture.Calls.Count);
        for (int l = 0; l < config.Layers; l++)
        {
            for (int m = 0; m < 7; m++)
            {
                var call = capture.Calls[(l * 7) + m];
                Assert.Equal($"model.layers.{l}.{suffixes[m]}", call.Module);
                Assert.Equal(l, call.Layer);
                Assert.Equal(5, call.Rows);
                Assert.Equal(config.GetShape(call.Tensor).Columns, call.Columns);
            }
        }

        // The first q_proj input is RMSNorm(embedding) of each token, computed here by hand.
        float[] emb = source.Get(LlamaTensor.TokenEmbedding);
        float[] gamma = source.Get(LlamaTensor.AttentionNorm, 0);
        int[] flat = [1, 2, 3, 4, 5];
        for (int t = 0; t < flat.Length; t++)
        {
            double[] expected = ReferenceLlama.RmsNorm(emb.Skip(flat[t] * 16).Take(16).Select(v => (double)v).ToArray(), gamma, 1e-5);
            for (int j = 0; j < 16; j++)
            {
                Assert.Equal(expected[j], capture.Calls[0].Data[(t * 16) + j], 1e-5);
            }
        }
    }

    [Theory]
    [InlineData(LlamaTensor.QueryProjection, 1)]
    [InlineData(LlamaTensor.OutputProjection, 4)]
    [InlineData(LlamaTensor.GateProjection, 5)]
    [InlineData(LlamaTensor.DownProjection, 7)]
    public void ABlockStoppedAtAnInputObservesExactlyWhatTheFullBlockDoesUpToThere(LlamaTensor stop, int observed)
    {
        var config = SmallConfig(RopeConvention.HalfRotation, tied: false);
        using var source = new InMemoryLlamaWeights(config, seed: 13);
        using var model = new LlamaModel(source);
        var batch = model.Prepare([[1, 2, 3, 7], [4, 5]]);
        float[] x = model.Embed(batch);
        var full = new Capture();
        model.LinearInputObserver = full;
        model.RunBlock(1, (float[])x.Clone(), batch);
        var stopped = new Capture();
        model.LinearInputObserver = stopped;
        model.RunBlock(1, (float[])x.Clone(), batch, stopAtInputOf: stop);
        Assert.Equal(observed, stopped.Calls.Count);
        Assert.Equal(stop, stopped.Calls[^1].Tensor);
        for (int i = 0; i < observed; i++)
        {
            Assert.Equal(full.Calls[i].Tensor, stopped.Calls[i].Tensor);
            Assert.Equal(full.Calls[i].Data, stopped.Calls[i].Data);
        }
    }

    [Fact]
    public void ReplacedWeightsAreUsedAndCanBeCleared()
    {
        var config = SmallConfig(RopeConvention.HalfRotation, tied: true);
        using var source = new InMemoryLlamaWeights(config, seed: 12);
        using var model = new LlamaModel(source);
        int[] tokens = [1, 2, 3, 4];
        float[] before = model.Forward(tokens);

        DenseMatrix down = model.GetLinearWeights("model.layers.1.mlp.down_proj");
        Assert.Equal(source.Get(LlamaTensor.DownProjection, 1), down.Data.ToArray());
        down.Data.Span.Clear();
        model.ReplaceLinearWeights("model.layers.1.mlp.down_proj", down);
        Assert.Equal(["model.layers.1.mlp.down_proj"], model.ReplacedModules);
        float[] after = model.Forward(tokens);

        // Reference: a source whose layer-1 down projection is zero.
        source.Get(LlamaTensor.DownProjection, 1).AsSpan().CopyTo(down.Data.Span); // keep original for restore check
        float[] original = source.Get(LlamaTensor.DownProjection, 1).ToArray();
        Array.Clear(source.Get(LlamaTensor.DownProjection, 1));
        double[] expected = ReferenceLlama.Forward(source, tokens);
        original.CopyTo(source.Get(LlamaTensor.DownProjection, 1), 0);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], after[i], 1e-4);
        }

        Assert.NotEqual(before, after);
        model.ClearReplacedWeights();
        Assert.Equal(before, model.Forward(tokens));
    }

    [Fact]
    public void BadInputsThrowNamingTheArgument()
    {
        var config = SmallConfig(RopeConvention.HalfRotation, tied: true);
        using var source = new InMemoryLlamaWeights(config, seed: 1);
        using var model = new LlamaModel(source);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward([1, 37]));
        Assert.Equal("sequences", ex.ParamName);
        Assert.Contains("37", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward([-1]));
        Assert.Equal("sequences", Assert.Throws<ArgumentException>(() => model.Forward(Array.Empty<int>())).ParamName);
        Assert.Equal("sequences", Assert.Throws<ArgumentException>(() => model.Forward(new int[25])).ParamName);
        var w = Assert.Throws<ArgumentException>(() => model.ReplaceLinearWeights("model.layers.0.self_attn.q_proj", DenseMatrix.Create(16, 15)));
        Assert.Equal("weights", w.ParamName);
        Assert.Contains("[16, 16]", w.Message);
        Assert.Equal("moduleName", Assert.Throws<ArgumentException>(() => model.ReplaceLinearWeights("model.layers.2.self_attn.q_proj", DenseMatrix.Create(16, 16))).ParamName);
        Assert.Equal("moduleName", Assert.Throws<ArgumentException>(() => model.GetLinearWeights("lm_head")).ParamName);
    }

    [Fact]
    public void ConfigRejectsInconsistentSizes()
    {
        Assert.Equal("kvHeads", Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaConfig(16, 32, 1, 4, 3, 10, 8)).ParamName);
        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaConfig(0, 32, 1, 4, 2, 10, 8)).ParamName);
        Assert.Equal("HeadDim", Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaConfig(16, 32, 1, 4, 2, 10, 8) { HeadDim = 3 }).ParamName);
        Assert.Equal("RopeTheta", Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaConfig(16, 32, 1, 4, 2, 10, 8) { RopeTheta = double.NaN }).ParamName);
    }
}
