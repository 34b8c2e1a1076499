using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LowBitQuant.Hessian;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>Blocked, symmetric XᵀX accumulation.</summary>
internal static partial class CpuKernels
{
    /// <summary>Tokens packed at once; the packed slab is <see cref="GramSlabTokens"/> × padded channels floats (O(channels)).</summary>
    internal const int GramSlabTokens = 512;

    /// <summary>
    /// Tokens summed in float32 registers before the partial products are added to the float64 accumulator: one whole
    /// slab, so each float64 tile is read and written once per slab (the 8192 × 4096 shape's 68 MB of tiles do not fit
    /// in cache; reducing every 128 tokens cost 4× that traffic and 4× the widening adds). The packed 512 × 64 B panel
    /// (128 KiB) streams from L2, well within its bandwidth at one 64-byte load per 1.5 FMAs; the float32 rounding is
    /// bounded by sums of 512 products (the 10⁶-token stream test still holds float32 accuracy).
    /// </summary>
    internal const int GramRegisterTokens = 512;

    /// <summary>Rows of a tile computed by one micro-kernel call (4 broadcasts × 4 vectors = 16 accumulators).</summary>
    private const int GramMicroRows = 4;

    /// <summary>Rows of a tile computed by the main 512-bit micro-kernel (6 broadcasts × 4 vectors = 24 accumulators); 64 = 10 × 6 + 4.</summary>
    private const int GramMicroRows512 = 6;

    /// <summary>Below this many multiply-adds a batch is processed on the calling thread.</summary>
    private const long GramParallelThreshold = 1L << 22;

    /// <summary>Below this many floats a slab is packed on the calling thread.</summary>
    private const long GramParallelPackThreshold = 1L << 18;

    /// <summary>The width the Gram kernel uses: explicit 512-bit whenever AVX-512F exists (faster than 256-bit even where the runtime prefers 256).</summary>
    internal static VectorWidth GramPreferredWidth { get; } =
        Avx512F.IsSupported ? VectorWidth.V512 :
        Vector256.IsHardwareAccelerated ? VectorWidth.V256 : VectorWidth.Scalar;

    /// <summary>Adds XᵀX of <paramref name="x"/> (tokens × accumulator.Columns, row-major, finite) to the upper triangle of <paramref name="accumulator"/>.</summary>
    public static void AccumulateGram(ReadOnlySpan<float> x, PackedGramAccumulator accumulator) =>
        AccumulateGram(x, accumulator, GramPreferredWidth);

    internal static void AccumulateGram(ReadOnlySpan<float> x, PackedGramAccumulator accumulator, VectorWidth width)
    {
        int n = accumulator.Columns;
        int tokens = x.Length / n;
        if (tokens == 0)
        {
            return;
        }

        int tiles = accumulator.Tiles;
        int padded = tiles * PackedGramAccumulator.Tile;
        int slabTokens = Math.Min(GramSlabTokens, tokens);
        float[] slab = ArrayPool<float>.Shared.Rent(slabTokens * padded);
        try
        {
            for (int t0 = 0; t0 < tokens; t0 += GramSlabTokens)
            {
                int count = Math.Min(GramSlabTokens, tokens - t0);
                PackSlab(x.Slice(t0 * n, count * n), n, count, tiles, slab);
                AccumulateSlab(slab, count, accumulator, width);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(slab);
        }
    }

    /// <summary>Packs count × n rows into tile-major panels: slab[tile][token][0..64), zero-padded past n.</summary>
    private static unsafe void PackSlab(ReadOnlySpan<float> rows, int n, int count, int tiles, float[] slab)
    {
        if ((long)count * n < GramParallelPackThreshold || Environment.ProcessorCount == 1)
        {
            PackTiles(rows, n, count, 0, tiles, slab);
            return;
        }

        // Large slabs are copied by all cores (the copy is memory-bound, and a single thread would leave the others idle).
        fixed (float* p = rows)
        {
            float* source = p;
            int length = rows.Length;
            int workers = Environment.ProcessorCount;
            int perChunk = (tiles + workers - 1) / workers;
            Parallel.For(0, workers, w =>
            {
                int start = w * perChunk, end = Math.Min(tiles, start + perChunk);
                if (start < end)
                {
                    PackTiles(new ReadOnlySpan<float>(source, length), n, count, start, end, slab);
                }
            });
        }
    }

    private static void PackTiles(ReadOnlySpan<float> rows, int n, int count, int tileStart, int tileEnd, float[] slab)
    {
        const int T = PackedGramAccumulator.Tile;
        int panel = count * T;
        for (int tile = tileStart; tile < tileEnd; tile++)
        {
            int c0 = tile * T;
            int width = Math.Min(T, n - c0);
            var dst = slab.AsSpan(tile * panel, panel);
            for (int t = 0; t < count; t++)
            {
                rows.Slice((t * n) + c0, width).CopyTo(dst.Slice(t * T, width));
                if (width < T)
                {
                    dst.Slice((t * T) + width, T - width).Clear();
                }
            }
        }
    }

    private static void AccumulateSlab(float[] slab, int count, PackedGramAccumulator accumulator, VectorWidth width)
    {
        int tiles = accumulator.Tiles;
        int pairs = accumulator.Pairs;
        long work = (long)pairs * PackedGramAccumulator.TileElements * count;
        if (work < GramParallelThreshold || Environment.ProcessorCount == 1)
        {
            for (int p = 0; p < pairs; p++)
            {
                var (i, j) = PackedGramAccumulator.PairAt(tiles, p);
                AccumulatePair(slab, count, accumulator, i, j, width);
            }

            return;
        }

        // Pairs write disjoint accumulator tiles, so threads never share output. Each thread walks a contiguous
        // range of pairs (same I for long stretches, so the A panel stays cached); 32 chunks per core keep the tail short
        // when a core is taken away by other load.
        int workers = Environment.ProcessorCount;
        int perChunk = Math.Max(1, pairs / (workers * 32));
        Parallel.For(0, (pairs + perChunk - 1) / perChunk, chunk =>
        {
            int start = chunk * perChunk, end = Math.Min(pairs, start + perChunk);
            var (i, j) = PackedGramAccumulator.PairAt(tiles, start);
            for (int p = start; p < end; p++)
            {
                AccumulatePair(slab, count, accumulator, i, j, width);
                if (++j == tiles)
                {
                    i++;
                    j = i;
                }
            }
        });
    }

    private static void AccumulatePair(float[] slab, int count, PackedGramAccumulator accumulator, int ti, int tj, VectorWidth width)
    {
        const int T = PackedGramAccumulator.Tile;
        int panel = count * T;
        ref float a = ref slab[ti * panel];
        ref float b = ref slab[tj * panel];
        ref double c = ref accumulator.Data[accumulator.Offset(ti, tj)];
        for (int k0 = 0; k0 < count; k0 += GramRegisterTokens)
        {
            int k = Math.Min(GramRegisterTokens, count - k0);
            ref float ak = ref Unsafe.Add(ref a, k0 * T);
            ref float bk = ref Unsafe.Add(ref b, k0 * T);

            // In a diagonal tile only rows r.. against columns ≥ r matter, but the full tile is cheap (1/Tiles of the work) and symmetric.
            if (width == VectorWidth.V512)
            {
                // Rows 0..59 in ten 6-row micro-tiles (24 accumulators), rows 60..63 in one 4-row micro-tile.
                int r6 = 0;
                for (; r6 + GramMicroRows512 <= T; r6 += GramMicroRows512)
                {
                    PrefetchRows(ref Unsafe.Add(ref c, r6 * T), GramMicroRows512);
                    Micro512x6(ref Unsafe.Add(ref ak, r6), ref bk, k, ref Unsafe.Add(ref c, r6 * T));
                }

                Micro512(ref Unsafe.Add(ref ak, r6), ref bk, k, ref Unsafe.Add(ref c, r6 * T));
                continue;
            }

            for (int r = 0; r < T; r += GramMicroRows)
            {
                ref double cr = ref Unsafe.Add(ref c, r * T);
                switch (width)
                {
                    case VectorWidth.V256:
                        Micro256(ref Unsafe.Add(ref ak, r), ref bk, k, ref cr);
                        Micro256(ref Unsafe.Add(ref ak, r), ref Unsafe.Add(ref bk, 32), k, ref Unsafe.Add(ref cr, 32));
                        break;
                    default:
                        MicroScalar(ref Unsafe.Add(ref ak, r), ref bk, k, ref cr);
                        break;
                }
            }
        }
    }

    /// <summary>Asks for the float64 rows a micro-kernel will add into at its end, so they arrive from memory while it computes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchRows(ref double c, int rows)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        const int T = PackedGramAccumulator.Tile;
        fixed (double* p = &c)
        {
            for (int line = 0; line < rows * T; line += 8)
            {
                Sse.Prefetch0(p + line);
            }
        }
    }

    /// <summary>C[0..6, 0..64) += Σ_t a[t, 0..6)ᵀ b[t, 0..64): 24 float32 accumulators + 4 B vectors + 1 broadcast of the 32 zmm registers, then widened into float64 C (row stride 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512x6(ref float a, ref float b, int k, ref double c)
    {
        const int T = PackedGramAccumulator.Tile;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int t = 0; t < k; t++)
        {
            nuint o = (nuint)(t * T);
            var b0 = Vector512.LoadUnsafe(ref b, o);
            var b1 = Vector512.LoadUnsafe(ref b, o + 16);
            var b2 = Vector512.LoadUnsafe(ref b, o + 32);
            var b3 = Vector512.LoadUnsafe(ref b, o + 48);
            ref float at = ref Unsafe.Add(ref a, o);
            var a0 = Vector512.Create(at);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(a0, b2, c02);
            c03 = Vector512.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector512.Create(Unsafe.Add(ref at, 1));
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(a1, b2, c12);
            c13 = Vector512.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector512.Create(Unsafe.Add(ref at, 2));
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(a2, b2, c22);
            c23 = Vector512.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector512.Create(Unsafe.Add(ref at, 3));
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(a3, b2, c32);
            c33 = Vector512.FusedMultiplyAdd(a3, b3, c33);
            var a4 = Vector512.Create(Unsafe.Add(ref at, 4));
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(a4, b2, c42);
            c43 = Vector512.FusedMultiplyAdd(a4, b3, c43);
            var a5 = Vector512.Create(Unsafe.Add(ref at, 5));
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(a5, b2, c52);
            c53 = Vector512.FusedMultiplyAdd(a5, b3, c53);
        }

        AddRow512(ref c, c00, c01, c02, c03);
        AddRow512(ref Unsafe.Add(ref c, T), c10, c11, c12, c13);
        AddRow512(ref Unsafe.Add(ref c, 2 * T), c20, c21, c22, c23);
        AddRow512(ref Unsafe.Add(ref c, 3 * T), c30, c31, c32, c33);
        AddRow512(ref Unsafe.Add(ref c, 4 * T), c40, c41, c42, c43);
        AddRow512(ref Unsafe.Add(ref c, 5 * T), c50, c51, c52, c53);
    }

    /// <summary>C[0..4, 0..64) += Σ_t a[t, 0..4)ᵀ b[t, 0..64), float32 in registers, then widened into float64 C (row stride 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512(ref float a, ref float b, int k, ref double c)
    {
        const int T = PackedGramAccumulator.Tile;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (int t = 0; t < k; t++)
        {
            nuint o = (nuint)(t * T);
            var b0 = Vector512.LoadUnsafe(ref b, o);
            var b1 = Vector512.LoadUnsafe(ref b, o + 16);
            var b2 = Vector512.LoadUnsafe(ref b, o + 32);
            var b3 = Vector512.LoadUnsafe(ref b, o + 48);
            ref float at = ref Unsafe.Add(ref a, o);
            var a0 = Vector512.Create(at);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(a0, b2, c02);
            c03 = Vector512.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector512.Create(Unsafe.Add(ref at, 1));
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(a1, b2, c12);
            c13 = Vector512.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector512.Create(Unsafe.Add(ref at, 2));
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(a2, b2, c22);
            c23 = Vector512.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector512.Create(Unsafe.Add(ref at, 3));
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(a3, b2, c32);
            c33 = Vector512.FusedMultiplyAdd(a3, b3, c33);
        }

        AddRow512(ref c, c00, c01, c02, c03);
        AddRow512(ref Unsafe.Add(ref c, T), c10, c11, c12, c13);
        AddRow512(ref Unsafe.Add(ref c, 2 * T), c20, c21, c22, c23);
        AddRow512(ref Unsafe.Add(ref c, 3 * T), c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow512(ref double c, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        AddWide512(ref c, 0, v0);
        AddWide512(ref c, 16, v1);
        AddWide512(ref c, 32, v2);
        AddWide512(ref c, 48, v3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddWide512(ref double c, nuint at, Vector512<float> v)
    {
        (Vector512.LoadUnsafe(ref c, at) + Vector512.WidenLower(v)).StoreUnsafe(ref c, at);
        (Vector512.LoadUnsafe(ref c, at + 8) + Vector512.WidenUpper(v)).StoreUnsafe(ref c, at + 8);
    }

    /// <summary>C[0..4, 0..32) += Σ_t a[t, 0..4)ᵀ b[t, 0..32) with 256-bit vectors (row stride 64 in a, b and C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro256(ref float a, ref float b, int k, ref double c)
    {
        const int T = PackedGramAccumulator.Tile;
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (int t = 0; t < k; t++)
        {
            nuint o = (nuint)(t * T);
            var b0 = Vector256.LoadUnsafe(ref b, o);
            var b1 = Vector256.LoadUnsafe(ref b, o + 8);
            var b2 = Vector256.LoadUnsafe(ref b, o + 16);
            var b3 = Vector256.LoadUnsafe(ref b, o + 24);
            ref float at = ref Unsafe.Add(ref a, o);
            var a0 = Vector256.Create(at);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector256.FusedMultiplyAdd(a0, b2, c02);
            c03 = Vector256.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector256.Create(Unsafe.Add(ref at, 1));
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector256.FusedMultiplyAdd(a1, b2, c12);
            c13 = Vector256.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector256.Create(Unsafe.Add(ref at, 2));
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector256.FusedMultiplyAdd(a2, b2, c22);
            c23 = Vector256.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector256.Create(Unsafe.Add(ref at, 3));
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector256.FusedMultiplyAdd(a3, b2, c32);
            c33 = Vector256.FusedMultiplyAdd(a3, b3, c33);
        }

        AddRow256(ref c, c00, c01, c02, c03);
        AddRow256(ref Unsafe.Add(ref c, T), c10, c11, c12, c13);
        AddRow256(ref Unsafe.Add(ref c, 2 * T), c20, c21, c22, c23);
        AddRow256(ref Unsafe.Add(ref c, 3 * T), c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow256(ref double c, Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3)
    {
        AddWide256(ref c, 0, v0);
        AddWide256(ref c, 8, v1);
        AddWide256(ref c, 16, v2);
        AddWide256(ref c, 24, v3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddWide256(ref double c, nuint at, Vector256<float> v)
    {
        (Vector256.LoadUnsafe(ref c, at) + Vector256.WidenLower(v)).StoreUnsafe(ref c, at);
        (Vector256.LoadUnsafe(ref c, at + 4) + Vector256.WidenUpper(v)).StoreUnsafe(ref c, at + 4);
    }

    /// <summary>Scalar micro-kernel with the same float32-block / float64-reduce numerics.</summary>
    private static void MicroScalar(ref float a, ref float b, int k, ref double c)
    {
        const int T = PackedGramAccumulator.Tile;
        Span<float> block = stackalloc float[GramMicroRows * T];
        block.Clear();
        for (int t = 0; t < k; t++)
        {
            int o = t * T;
            for (int r = 0; r < GramMicroRows; r++)
            {
                float ar = Unsafe.Add(ref a, o + r);
                for (int j = 0; j < T; j++)
                {
                    block[(r * T) + j] = MathF.FusedMultiplyAdd(ar, Unsafe.Add(ref b, o + j), block[(r * T) + j]);
                }
            }
        }

        for (int r = 0; r < GramMicroRows; r++)
        {
            for (int j = 0; j < T; j++)
            {
                Unsafe.Add(ref c, (r * T) + j) += block[(r * T) + j];
            }
        }
    }
}
