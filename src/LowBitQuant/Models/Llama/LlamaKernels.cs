using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LowBitQuant;

/// <summary>
/// The float32 CPU building blocks of the Llama forward pass. Activations are row-major <c>tokens × width</c>;
/// weights are row-major <c>[out, in]</c>. Plain references written from the equations live in the tests.
/// </summary>
internal static partial class LlamaKernels
{
    /// <summary>Minimum multiply-adds before a matrix product is split across threads.</summary>
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Token rows per tile: four share each weight-row load in the micro-kernel.</summary>
    private const int TokenTile = 16;

    /// <summary>Weight rows per tile: 64 rows of up to 4096 floats stay within L2.</summary>
    private const int RowTile = 64;

    /// <summary>
    /// <c>y[t, o] = Σᵢ x[t, i] · w[o, i]</c> (y = x·Wᵀ) with dot products of 4 tokens × 1 weight row, tiled over tokens and weight
    /// rows, parallel over tiles. Needs no packing, so it serves few tokens and CPUs without AVX-512 (see <see cref="MatMulTransposed"/>).
    /// </summary>
    internal static void MatMulTransposedDot(float[] x, int tokens, int inDim, float[] w, int outDim, float[] y)
    {
        if (x.Length < (long)tokens * inDim || w.Length < (long)outDim * inDim || y.Length < (long)tokens * outDim)
        {
            throw new ArgumentException("Matrix product buffers are too short.");
        }

        int tokenTiles = (tokens + TokenTile - 1) / TokenTile;
        int rowTiles = (outDim + RowTile - 1) / RowTile;
        int tiles = tokenTiles * rowTiles;
        if ((long)tokens * inDim * outDim < ParallelThreshold || tiles == 1)
        {
            for (int tile = 0; tile < tiles; tile++)
            {
                MatMulTile(x, tokens, inDim, w, outDim, y, tile % tokenTiles, tile / tokenTiles);
            }

            return;
        }

        Parallel.For(0, tiles, tile => MatMulTile(x, tokens, inDim, w, outDim, y, tile % tokenTiles, tile / tokenTiles));
    }

    private static void MatMulTile(float[] x, int tokens, int inDim, float[] w, int outDim, float[] y, int tokenTile, int rowTile)
    {
        int t0 = tokenTile * TokenTile;
        int t1 = Math.Min(tokens, t0 + TokenTile);
        int o0 = rowTile * RowTile;
        int o1 = Math.Min(outDim, o0 + RowTile);
        for (int o = o0; o < o1; o++)
        {
            ReadOnlySpan<float> wRow = w.AsSpan(o * inDim, inDim);
            int t = t0;
            for (; t + 4 <= t1; t += 4)
            {
                Dot4(wRow, x.AsSpan(t * inDim, 4 * inDim), out float d0, out float d1, out float d2, out float d3);
                y[(t * outDim) + o] = d0;
                y[((t + 1) * outDim) + o] = d1;
                y[((t + 2) * outDim) + o] = d2;
                y[((t + 3) * outDim) + o] = d3;
            }

            for (; t < t1; t++)
            {
                y[(t * outDim) + o] = TensorPrimitives.Dot(x.AsSpan(t * inDim, inDim), wRow);
            }
        }
    }

    /// <summary>Four dot products of <paramref name="w"/> with four consecutive rows of <paramref name="x4"/>, sharing each load of w.</summary>
    private static void Dot4(ReadOnlySpan<float> w, ReadOnlySpan<float> x4, out float d0, out float d1, out float d2, out float d3)
    {
        int n = w.Length;
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float xr = ref MemoryMarshal.GetReference(x4);
        int i = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + Vector256<float>.Count <= n; i += Vector256<float>.Count)
            {
                Vector256<float> wv = Vector256.LoadUnsafe(ref wr, (nuint)i);
                a0 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref xr, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref xr, (nuint)(i + n)), a1);
                a2 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref xr, (nuint)(i + (2 * n))), a2);
                a3 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref xr, (nuint)(i + (3 * n))), a3);
            }

            s0 = Vector256.Sum(a0);
            s1 = Vector256.Sum(a1);
            s2 = Vector256.Sum(a2);
            s3 = Vector256.Sum(a3);
        }

        for (; i < n; i++)
        {
            float wv = Unsafe.Add(ref wr, i);
            s0 = MathF.FusedMultiplyAdd(wv, Unsafe.Add(ref xr, i), s0);
            s1 = MathF.FusedMultiplyAdd(wv, Unsafe.Add(ref xr, i + n), s1);
            s2 = MathF.FusedMultiplyAdd(wv, Unsafe.Add(ref xr, i + (2 * n)), s2);
            s3 = MathF.FusedMultiplyAdd(wv, Unsafe.Add(ref xr, i + (3 * n)), s3);
        }

        d0 = s0;
        d1 = s1;
        d2 = s2;
        d3 = s3;
    }

    /// <summary><c>out_j = γ_j · x_j / √(mean(x²) + ε)</c> for each row.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, int rows, int width, ReadOnlySpan<float> gamma, float epsilon, Span<float> destination)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * width, width);
            Span<float> dest = destination.Slice(r * width, width);
            float meanSquare = TensorPrimitives.SumOfSquares(row) / width;
            float inv = 1f / MathF.Sqrt(meanSquare + epsilon);
            TensorPrimitives.Multiply(row, inv, dest);
            TensorPrimitives.Multiply(dest, gamma, dest);
        }
    }

    /// <summary>
    /// Precomputes <c>cos θ</c> and <c>sin θ</c> for <c>θ = pos · base^(−2p/headDim)</c>, positions 0..<paramref name="positions"/>−1
    /// and pair index p in [0, headDim/2): tables of <c>positions × headDim/2</c>.
    /// </summary>
    public static (float[] Cos, float[] Sin) RopeTables(int positions, int headDim, double theta)
    {
        int half = headDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int p = 0; p < half; p++)
        {
            // float32 frequency, as both run.c (1/powf) and Hugging Face (float inv_freq) compute it.
            float freq = (float)(1.0 / Math.Pow(theta, 2.0 * p / headDim));
            for (int pos = 0; pos < positions; pos++)
            {
                float angle = pos * freq;
                cos[(pos * half) + p] = MathF.Cos(angle);
                sin[(pos * half) + p] = MathF.Sin(angle);
            }
        }

        return (cos, sin);
    }

    /// <summary>
    /// Rotates every head of each row in place: pair p of a head is <c>(2p, 2p+1)</c> (adjacent) or <c>(p, p + headDim/2)</c> (half);
    /// <c>(a, b) ← (a·cos − b·sin, a·sin + b·cos)</c> at the row's position.
    /// </summary>
    public static void ApplyRope(Span<float> rows, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, float[] cos, float[] sin, RopeConvention convention)
    {
        int half = headDim / 2;
        int width = heads * headDim;
        for (int t = 0; t < tokens; t++)
        {
            int pos = positions[t];
            ReadOnlySpan<float> c = cos.AsSpan(pos * half, half);
            ReadOnlySpan<float> s = sin.AsSpan(pos * half, half);
            for (int h = 0; h < heads; h++)
            {
                Span<float> v = rows.Slice((t * width) + (h * headDim), headDim);
                for (int p = 0; p < half; p++)
                {
                    int ia = convention == RopeConvention.AdjacentPairs ? 2 * p : p;
                    int ib = convention == RopeConvention.AdjacentPairs ? (2 * p) + 1 : p + half;
                    float a = v[ia];
                    float b = v[ib];
                    v[ia] = (a * c[p]) - (b * s[p]);
                    v[ib] = (a * s[p]) + (b * c[p]);
                }
            }
        }
    }

    /// <summary>
    /// Causal grouped-query attention for stacked sequences: for query head h (KV head <c>h / (heads / kvHeads)</c>) and
    /// position i of a sequence, <c>out = Σ_{j≤i} softmax_j(q_i·k_j / √headDim) · v_j</c>. Sequence s occupies rows
    /// <c>[starts[s], starts[s] + lengths[s])</c>; parallel over (sequence, KV head). Each work item transposes its K and V head
    /// into <c>headDim × length</c> rows, so a query's scores are headDim vector multiply-adds over the keys and its output headDim
    /// dot products over them, instead of one short call per key (8-wide heads made those calls the whole cost).
    /// </summary>
    public static void Attention(float[] q, float[] k, float[] v, int[] starts, int[] lengths, int heads, int kvHeads, int headDim, float[] output)
    {
        int qWidth = heads * headDim;
        int kvWidth = kvHeads * headDim;
        int group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        int work = starts.Length * kvHeads;
        long cost = 0;
        foreach (int len in lengths)
        {
            cost += (long)len * len * headDim * heads;
        }

        void Run(int item)
        {
            int s = item / kvHeads;
            int kvh = item % kvHeads;
            int start = starts[s];
            int len = lengths[s];
            float[] kt = ArrayPool<float>.Shared.Rent(headDim * len);
            float[] vt = ArrayPool<float>.Shared.Rent(headDim * len);
            float[] scores = ArrayPool<float>.Shared.Rent(len);
            float[] scaledQuery = ArrayPool<float>.Shared.Rent(headDim);
            try
            {
                for (int j = 0; j < len; j++)
                {
                    int row = ((start + j) * kvWidth) + (kvh * headDim);
                    for (int d = 0; d < headDim; d++)
                    {
                        kt[(d * len) + j] = k[row + d];
                        vt[(d * len) + j] = v[row + d];
                    }
                }

                for (int h = kvh * group; h < (kvh + 1) * group; h++)
                {
                    for (int i = 0; i < len; i++)
                    {
                        Span<float> qi = scaledQuery.AsSpan(0, headDim);
                        TensorPrimitives.Multiply(q.AsSpan(((start + i) * qWidth) + (h * headDim), headDim), scale, qi);
                        Span<float> sc = scores.AsSpan(0, i + 1);
                        TensorPrimitives.Multiply(kt.AsSpan(0, i + 1), qi[0], sc);
                        for (int d = 1; d < headDim; d++)
                        {
                            TensorPrimitives.MultiplyAdd(kt.AsSpan(d * len, i + 1), qi[d], sc, sc);
                        }

                        float max = TensorPrimitives.Max(sc);
                        TensorPrimitives.Subtract(sc, max, sc);
                        TensorPrimitives.Exp(sc, sc);
                        float inv = 1f / TensorPrimitives.Sum(sc);
                        Span<float> dest = output.AsSpan(((start + i) * qWidth) + (h * headDim), headDim);
                        for (int d = 0; d < headDim; d++)
                        {
                            dest[d] = TensorPrimitives.Dot(sc, vt.AsSpan(d * len, i + 1)) * inv;
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(kt);
                ArrayPool<float>.Shared.Return(vt);
                ArrayPool<float>.Shared.Return(scores);
                ArrayPool<float>.Shared.Return(scaledQuery);
            }
        }

        if (cost < ParallelThreshold || work == 1)
        {
            for (int item = 0; item < work; item++)
            {
                Run(item);
            }
        }
        else
        {
            Parallel.For(0, work, Run);
        }
    }

    /// <summary><c>gate ← silu(gate) ⊙ up</c> with <c>silu(a) = a / (1 + e^(−a))</c>.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float a = gate[i];
            gate[i] = a / (1f + MathF.Exp(-a)) * up[i];
        }
    }
}
