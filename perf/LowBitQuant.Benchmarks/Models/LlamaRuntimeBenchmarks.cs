using BenchmarkDotNet.Attributes;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Benchmarks.Models;

/// <summary>
/// Forward-pass cost: a stories260K-shaped model over one 512-token window (evaluation throughput), and one synthetic Llama block
/// of width 4096 / feed-forward 14336 (GQA 32/8) over 64 tokens, whose time per token compares with the machine's GEMM rate
/// (about 2 × 4096 × (2·4096 + 2·1024 + 3·14336) ≈ 436 MFLOP per token for the linears). Two references in the same run:
/// the runtime's own linear kernel on one 4096 → 14336 projection over the same 64 tokens, and the library's blocked GEMM on the
/// same product (64 × 4096 · 4096 × 14336 = 7.5 GFLOP).
/// </summary>
public class LlamaRuntimeBenchmarks
{
    private LlamaModel _stories = null!;
    private LlamaModel _block = null!;
    private int[][] _storiesWindow = [];
    private int[][] _blockTokens = [];
    private float[] _x = [];
    private float[] _w = [];
    private float[] _wt = [];
    private float[] _y = [];

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
        _x = Random(64 * 4096, rng);
        _w = Random(14336 * 4096, rng);
        _wt = new float[_w.Length];
        for (int o = 0; o < 14336; o++)
        {
            for (int i = 0; i < 4096; i++)
            {
                _wt[((long)i * 14336) + o] = _w[((long)o * 4096) + i];
            }
        }

        _y = new float[64 * 14336];
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

    /// <summary>The runtime's linear kernel alone: 64 tokens × one 4096 → 14336 projection (7.5 GFLOP).</summary>
    [Benchmark]
    public void RuntimeLinear64x4096x14336() => LlamaKernels.MatMulTransposed(_x, 64, 4096, _w, 14336, _y);

    /// <summary>The library's blocked GEMM on the same product (weights pre-transposed to k × n).</summary>
    [Benchmark]
    public void LibraryGemm64x4096x14336() => CpuKernels.MultiplySubtract(_x, 4096, _wt, 14336, _y, 14336, 64, 14336, 4096);

    private static float[] Random(int n, Random rng)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1) / 64;
        }

        return x;
    }
}
