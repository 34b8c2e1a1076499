using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBitQuant;

/// <summary>
/// The packed, register-tiled x·Wᵀ of the Llama runtime. Work items are (token block × 128 weight rows); each packs its weight rows
/// into 64-wide panels of 256 input channels (<c>panel[p][j] = w[o₀ + j, k₀ + p]</c>, zero-padded) and runs a 6-token × 64-output
/// micro-kernel: 24 float32 zmm accumulators, per input channel four panel loads and six broadcasts of x. The panel (64 KiB) stays
/// in L2 and the six x rows (6 KiB per pass) in L1 while the token loop reuses them.
/// </summary>
internal static unsafe partial class LlamaKernels
{
    private const int PackedRows = 6;            // tokens per register tile
    private const int PackedColumns = 64;        // outputs per register tile: 4 × Vector512<float>
    private const int PackedDepth = 256;         // input channels per pass: one panel is 256 × 64 floats = 64 KiB
    private const int PackedColumnBlock = 128;   // weight rows per work item (two panels, 128 KiB)
    private const int PackedMinBlockTokens = 96; // token blocks are not split below this, so packing stays amortised

    /// <summary>Fewest tokens for which the packed kernel pays for packing the weights (below it the dot-product kernel wins).</summary>
    internal const int PackedMinTokens = 8;

    /// <summary>Whether the packed kernel can run (its micro-kernel is written for 512-bit registers).</summary>
    internal static bool PackedSupported => Avx512F.IsSupported;

    /// <summary>
    /// <c>y[t, o] = Σᵢ x[t, i] · w[o, i]</c> (y = x·Wᵀ), x row-major <c>tokens × inDim</c>, w row-major <c>outDim × inDim</c>, y row-major
    /// <c>tokens × outDim</c>: the packed kernel when the CPU has AVX-512 and there are enough tokens, otherwise the dot-product kernel.
    /// </summary>
    public static void MatMulTransposed(float[] x, int tokens, int inDim, float[] w, int outDim, float[] y)
    {
        if (PackedSupported && tokens >= PackedMinTokens)
        {
            MatMulTransposedPacked(x, tokens, inDim, w, outDim, y);
        }
        else
        {
            MatMulTransposedDot(x, tokens, inDim, w, outDim, y);
        }
    }

    /// <summary>The packed kernel (see the type remarks); requires <see cref="PackedSupported"/>.</summary>
    internal static void MatMulTransposedPacked(float[] x, int tokens, int inDim, float[] w, int outDim, float[] y) =>
        MatMulTransposedPacked(x.AsSpan(), tokens, inDim, w.AsSpan(), outDim, y.AsSpan());

    /// <summary>The packed kernel on spans (callers that multiply a slice, such as a chunk of weight rows).</summary>
    internal static void MatMulTransposedPacked(ReadOnlySpan<float> x, int tokens, int inDim, ReadOnlySpan<float> w, int outDim, Span<float> y)
    {
        if (tokens < 0 || inDim < 0 || outDim < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), "Matrix product dimensions must not be negative.");
        }

        if (x.Length < (long)tokens * inDim || w.Length < (long)outDim * inDim || y.Length < (long)tokens * outDim)
        {
            throw new ArgumentException("Matrix product buffers are too short.");
        }

        if (!PackedSupported)
        {
            throw new PlatformNotSupportedException("The packed matrix product needs AVX-512F.");
        }

        if (tokens == 0 || outDim == 0)
        {
            return;
        }

        if (inDim == 0)
        {
            y[..(tokens * outDim)].Clear();
            return;
        }

        // Column blocks first; split tokens only as far as needed to give every core a few items.
        int columnBlocks = (outDim + PackedColumnBlock - 1) / PackedColumnBlock;
        int wanted = (4 * Environment.ProcessorCount + columnBlocks - 1) / columnBlocks;
        int tokenBlocks = Math.Clamp(wanted, 1, Math.Max(1, tokens / PackedMinBlockTokens));
        int blockTokens = (tokens + tokenBlocks - 1) / tokenBlocks;
        blockTokens = (blockTokens + PackedRows - 1) / PackedRows * PackedRows;
        tokenBlocks = (tokens + blockTokens - 1) / blockTokens;
        int items = columnBlocks * tokenBlocks;
        fixed (float* px = x, pw = w, py = y)
        {
            // Raw pointers cannot be captured by a lambda: the spans stay pinned while the items run.
            var work = new PackedWork((nint)px, tokens, inDim, (nint)pw, outDim, (nint)py, tokenBlocks, blockTokens);
            if (items == 1 || (long)tokens * inDim * outDim < ParallelThreshold)
            {
                for (int item = 0; item < items; item++)
                {
                    work.Run(item);
                }
            }
            else
            {
                Parallel.For(0, items, work.Run);
            }
        }
    }

    private sealed class PackedWork(nint x, int tokens, int inDim, nint w, int outDim, nint y, int tokenBlocks, int blockTokens)
    {
        public void Run(int item)
        {
            int tb = item % tokenBlocks, cb = item / tokenBlocks;
            int t0 = tb * blockTokens, o0 = cb * PackedColumnBlock;
            PackedItem((float*)x, inDim, (float*)w, outDim, (float*)y, t0, Math.Min(tokens, t0 + blockTokens), o0, Math.Min(outDim, o0 + PackedColumnBlock));
        }
    }

    private static void PackedItem(float* px, int inDim, float* pw, int outDim, float* py, int t0, int t1, int o0, int o1)
    {
        float[] panels = ArrayPool<float>.Shared.Rent(PackedDepth * PackedColumnBlock);
        float* edge = stackalloc float[PackedRows * PackedColumns];
        try
        {
            fixed (float* pp = panels)
            {
                for (int k0 = 0; k0 < inDim; k0 += PackedDepth)
                {
                    int kc = Math.Min(PackedDepth, inDim - k0);
                    PackPanels(pw, inDim, o0, o1, k0, kc, pp);
                    bool accumulate = k0 > 0;
                    for (int t = t0; t < t1; t += PackedRows)
                    {
                        int rows = Math.Min(PackedRows, t1 - t);
                        float* a = px + ((long)t * inDim) + k0;
                        for (int o = o0; o < o1; o += PackedColumns)
                        {
                            float* panel = pp + ((long)(o - o0) / PackedColumns * kc * PackedColumns);
                            float* c = py + ((long)t * outDim) + o;
                            int columns = Math.Min(PackedColumns, o1 - o);
                            if (rows == PackedRows && columns == PackedColumns)
                            {
                                Kernel6x64(a, inDim, rows, panel, kc, c, outDim, accumulate);
                            }
                            else
                            {
                                Kernel6x64(a, inDim, rows, panel, kc, edge, PackedColumns, accumulate: false);
                                for (int r = 0; r < rows; r++)
                                {
                                    float* cr = c + ((long)r * outDim);
                                    float* er = edge + (r * PackedColumns);
                                    for (int j = 0; j < columns; j++)
                                    {
                                        cr[j] = accumulate ? cr[j] + er[j] : er[j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(panels);
        }
    }

    /// <summary>
    /// Packs weight rows [o0, o1) × input channels [k0, k0 + kc) into 64-wide panels, <c>panel[p·64 + j] = w[o + j, k0 + p]</c>;
    /// columns past o1 in the last panel are zero. 8 × 8 blocks are transposed in AVX registers.
    /// </summary>
    private static void PackPanels(float* w, int inDim, int o0, int o1, int k0, int kc, float* destination)
    {
        for (int o = o0; o < o1; o += PackedColumns)
        {
            float* panel = destination + ((long)(o - o0) / PackedColumns * kc * PackedColumns);
            int columns = Math.Min(PackedColumns, o1 - o);
            int j = 0;
            for (; j + 8 <= columns; j += 8)
            {
                float* src = w + ((long)(o + j) * inDim) + k0;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    Transpose8x8(src + p, inDim, panel + (p * PackedColumns) + j, PackedColumns);
                }

                for (; p < kc; p++)
                {
                    for (int jj = 0; jj < 8; jj++)
                    {
                        panel[(p * PackedColumns) + j + jj] = src[((long)jj * inDim) + p];
                    }
                }
            }

            for (; j < PackedColumns; j++)
            {
                float* src = w + ((long)(o + j) * inDim) + k0;
                for (int p = 0; p < kc; p++)
                {
                    panel[(p * PackedColumns) + j] = j < columns ? src[p] : 0f;
                }
            }
        }
    }

    /// <summary><c>dst[i·ldd + r] = src[r·lds + i]</c> for an 8 × 8 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int lds, float* dst, int ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + lds);
        Vector256<float> r2 = Avx.LoadVector256(src + (2L * lds)), r3 = Avx.LoadVector256(src + (3L * lds));
        Vector256<float> r4 = Avx.LoadVector256(src + (4L * lds)), r5 = Avx.LoadVector256(src + (5L * lds));
        Vector256<float> r6 = Avx.LoadVector256(src + (6L * lds)), r7 = Avx.LoadVector256(src + (7L * lds));
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + (2 * ldd), Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + (3 * ldd), Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + (4 * ldd), Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + (5 * ldd), Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + (6 * ldd), Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + (7 * ldd), Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>
    /// C[0..6, 0..64) (=|+=) A[0..6, 0..kc) · panel, A rows <paramref name="lda"/> apart. With <paramref name="rows"/> &lt; 6 the
    /// missing rows repeat the last valid one (their results are computed but the caller drops them).
    /// </summary>
    private static void Kernel6x64(float* a, int lda, int rows, float* b, int kc, float* c, int ldc, bool accumulate)
    {
        float* a0 = a;
        float* a1 = a + ((long)Math.Min(1, rows - 1) * lda);
        float* a2 = a + ((long)Math.Min(2, rows - 1) * lda);
        float* a3 = a + ((long)Math.Min(3, rows - 1) * lda);
        float* a4 = a + ((long)Math.Min(4, rows - 1) * lda);
        float* a5 = a + ((long)Math.Min(5, rows - 1) * lda);
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16), b2 = Vector512.Load(b + 32), b3 = Vector512.Load(b + 48);
            b += PackedColumns;
            Vector512<float> s = Vector512.Create(a0[p]);
            c00 = Vector512.FusedMultiplyAdd(s, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(s, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(s, b2, c02);
            c03 = Vector512.FusedMultiplyAdd(s, b3, c03);
            s = Vector512.Create(a1[p]);
            c10 = Vector512.FusedMultiplyAdd(s, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(s, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(s, b2, c12);
            c13 = Vector512.FusedMultiplyAdd(s, b3, c13);
            s = Vector512.Create(a2[p]);
            c20 = Vector512.FusedMultiplyAdd(s, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(s, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(s, b2, c22);
            c23 = Vector512.FusedMultiplyAdd(s, b3, c23);
            s = Vector512.Create(a3[p]);
            c30 = Vector512.FusedMultiplyAdd(s, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(s, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(s, b2, c32);
            c33 = Vector512.FusedMultiplyAdd(s, b3, c33);
            s = Vector512.Create(a4[p]);
            c40 = Vector512.FusedMultiplyAdd(s, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(s, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(s, b2, c42);
            c43 = Vector512.FusedMultiplyAdd(s, b3, c43);
            s = Vector512.Create(a5[p]);
            c50 = Vector512.FusedMultiplyAdd(s, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(s, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(s, b2, c52);
            c53 = Vector512.FusedMultiplyAdd(s, b3, c53);
        }

        StoreRow(c, accumulate, c00, c01, c02, c03);
        StoreRow(c + ldc, accumulate, c10, c11, c12, c13);
        StoreRow(c + (2L * ldc), accumulate, c20, c21, c22, c23);
        StoreRow(c + (3L * ldc), accumulate, c30, c31, c32, c33);
        StoreRow(c + (4L * ldc), accumulate, c40, c41, c42, c43);
        StoreRow(c + (5L * ldc), accumulate, c50, c51, c52, c53);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* c, bool accumulate, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        if (accumulate)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
            v2 += Vector512.Load(c + 32);
            v3 += Vector512.Load(c + 48);
        }

        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
        Vector512.Store(v2, c + 32);
        Vector512.Store(v3, c + 48);
    }
}
