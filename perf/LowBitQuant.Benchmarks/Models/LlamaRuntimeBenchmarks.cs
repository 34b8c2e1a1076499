using BenchmarkDotNet.Attributes;

namespace LowBitQuant.Benchmarks.Models;

/// <summary>
/// Forward-pass cost: a stories260K-shaped model over one 512-token window (evaluation throughput), and one synthetic Llama block
/// of width 4096 / feed-forward 14336 (GQA 32/8) over 64 tokens, whose time per token compares with the machine's GEMM rate
/// (about 2 × 4096 × (2·4096 + 2·1024 + 3·14336) ≈ 436 MFLOP per token for the linears).
/// </summary>
public class LlamaRuntimeBenchmarks
{
    private LlamaModel _stories = null!;
    private LlamaModel _block = null!;
    private int[][] _storiesWindow = [];
    private int[][] _blockTokens = [];

    [GlobalSetup]
    public void Setup()
    {
        var storiesConfig = new LlamaConfig(64, 172, 5, 8, 4, 512, 512) { TiedEmbeddings = true };
        _stories = new LlamaModel(new SyntheticLlamaWeights(storiesConfig, 1), ownsSource: true);
        var rng = new Random(3);
        _storiesWindow = [[1, .. Enumerable.Range(0, 511).Select(_ => rng.Next(512))]];

        var blockConfig = new LlamaConfig(4096, 14336, 1, 32, 8, 256, 128) { TiedEmbeddings = true };
        _block = new LlamaModel(new SyntheticLlamaWeights(blockConfig, 2), ownsSource: true);
        _blockTokens = [[.. Enumerable.Range(0, 64).Select(_ => rng.Next(256))]];
        _stories.Forward(_storiesWindow);
        _block.Forward(_blockTokens);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stories.Dispose();
        _block.Dispose();
    }

    /// <summary>512 tokens through stories260K-shaped weights.</summary>
    [Benchmark]
    public float[][] Stories260KWindow512() => _stories.Forward(_storiesWindow);

    /// <summary>64 tokens through one 4096/14336 block (plus a 256-token head).</summary>
    [Benchmark]
    public float[][] Block4096x14336Tokens64() => _block.Forward(_blockTokens);
}
