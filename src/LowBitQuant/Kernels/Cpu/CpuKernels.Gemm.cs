using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBitQuant.Internal;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>Which part of a GEMM is computed or known to be zero.</summary>
internal enum GemmShape
{
    /// <summary>Every element of C.</summary>
    Full,

    /// <summary>Only tiles of C that touch its lower triangle (j ≤ i, same origin); tiles wholly above it are skipped
    /// (elements above the diagonal inside a touched tile are updated too).</summary>
    LowerC,

    /// <summary>B is lower triangular (B[p, j] = 0 for p &lt; j, same origin): the sum over p starts at the tile's first column.</summary>
    LowerTriangularB,
}

/// <summary>
/// Blocked SIMD GEMM: C[m×n] −= A[m×k] · B[k×n], row-major with leading dimensions. Register tiles of 6 rows × 2 vectors
/// accumulate over the whole k in registers (FMA), cache blocks of 96 rows × 256 columns are spread over the thread pool.
/// </summary>
internal static unsafe partial class CpuKernels
{
    private const int GemmRowTile = 6;          // rows per register tile: 12 accumulators + 2 B vectors + 1 broadcast fit in 16 ymm
    private const int GemmRowBlock = 96;        // rows per cache block: A block (96 × 128 floats = 48 KiB) stays in L2
    private const int GemmColumnChunk = 256;    // columns per parallel work item
    private const int GemmDepthChunk = 256;     // k per pass: a double A block (96 × 256) stays in L2, a B panel (256 × 8) in L1
    private const long GemmSerialFlops = 1 << 18; // below this, threading costs more than it saves

    /// <summary>C −= A·B in float32 (see the type remarks).</summary>
    /// <exception cref="ArgumentException">A dimension or leading dimension is invalid, or a span is too short.</exception>
    public static void MultiplySubtract(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, bool parallel = true)
    {
        ValidateGemm(a.Length, lda, b.Length, ldb, c.Length, ldc, m, n, k);
        if (m == 0 || n == 0 || k == 0)
        {
            return;
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var args = new GemmArgs<float>(pa, lda, pb, ldb, pc, ldc, m, n, k, GemmShape.Full);
            RunGemm(args, parallel, &GemmBlock<float>);
        }
    }

    /// <summary>C −= A·B in float64, with an optional triangular <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">A dimension or leading dimension is invalid, or a span is too short.</exception>
    public static void MultiplySubtract(ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, Span<double> c, int ldc, int m, int n, int k, GemmShape shape = GemmShape.Full, bool parallel = true)
    {
        ValidateGemm(a.Length, lda, b.Length, ldb, c.Length, ldc, m, n, k);
        if (m == 0 || n == 0 || k == 0)
        {
            return;
        }

        fixed (double* pa = a, pb = b, pc = c)
        {
            var args = new GemmArgs<double>(pa, lda, pb, ldb, pc, ldc, m, n, k, shape);
            RunGemm(args, parallel, &GemmBlock<double>);
        }
    }

    private static void ValidateGemm(int aLength, int lda, int bLength, int ldb, int cLength, int ldc, int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            ThrowHelper.ThrowArgument(m < 0 ? nameof(m) : n < 0 ? nameof(n) : nameof(k), $"GEMM dimensions must not be negative ({m} × {n} × {k}).");
        }

        if (lda < k || ldb < n || ldc < n)
        {
            ThrowHelper.ThrowArgument(lda < k ? nameof(lda) : ldb < n ? nameof(ldb) : nameof(ldc), $"Leading dimensions ({lda}, {ldb}, {ldc}) must be at least (k, n, n) = ({k}, {n}, {n}).");
        }

        if (m > 0 && k > 0 && aLength < ((long)(m - 1) * lda) + k)
        {
            ThrowHelper.ThrowArgument("a", $"A needs {((long)(m - 1) * lda) + k} elements, got {aLength}.");
        }

        if (k > 0 && n > 0 && bLength < ((long)(k - 1) * ldb) + n)
        {
            ThrowHelper.ThrowArgument("b", $"B needs {((long)(k - 1) * ldb) + n} elements, got {bLength}.");
        }

        if (m > 0 && n > 0 && cLength < ((long)(m - 1) * ldc) + n)
        {
            ThrowHelper.ThrowArgument("c", $"C needs {((long)(m - 1) * ldc) + n} elements, got {cLength}.");
        }
    }

    private static void RunGemm<T>(GemmArgs<T> g, bool parallel, delegate*<in GemmArgs<T>, int, int, int, int, int, int, void> block)
        where T : unmanaged
    {
        int rowBlocks = (g.M + GemmRowBlock - 1) / GemmRowBlock;
        int colChunks = (g.N + GemmColumnChunk - 1) / GemmColumnChunk;
        int items = rowBlocks * colChunks;
        if (!parallel || items == 1 || (long)g.M * g.N * g.K < GemmSerialFlops || Environment.ProcessorCount == 1)
        {
            for (int item = 0; item < items; item++)
            {
                RunItem(g, item, colChunks, block);
            }

            return;
        }

        // Function pointers and raw pointers cannot be captured by a lambda: pass them through a boxed state.
        var state = new GemmItemState<T>(g, colChunks, (nint)block);
        Parallel.For(0, items, state.Run);
    }

    private static void RunItem<T>(in GemmArgs<T> g, int item, int colChunks, delegate*<in GemmArgs<T>, int, int, int, int, int, int, void> block)
        where T : unmanaged
    {
        int rb = item / colChunks, cc = item % colChunks;
        int i0 = rb * GemmRowBlock, j0 = cc * GemmColumnChunk;
        int i1 = Math.Min(i0 + GemmRowBlock, g.M), j1 = Math.Min(j0 + GemmColumnChunk, g.N);
        if (g.Shape == GemmShape.LowerC && j0 > i1 - 1)
        {
            return;
        }

        for (int k0 = 0; k0 < g.K; k0 += GemmDepthChunk)
        {
            block(g, i0, i1, j0, j1, k0, Math.Min(k0 + GemmDepthChunk, g.K));
        }
    }

    private sealed class GemmItemState<T>(GemmArgs<T> g, int colChunks, nint block)
        where T : unmanaged
    {
        public void Run(int item) => RunItem(g, item, colChunks, (delegate*<in GemmArgs<T>, int, int, int, int, int, int, void>)block);
    }

    private readonly struct GemmArgs<T>(T* a, int lda, T* b, int ldb, T* c, int ldc, int m, int n, int k, GemmShape shape)
        where T : unmanaged
    {
        public readonly T* A = a;
        public readonly T* B = b;
        public readonly T* C = c;
        public readonly int Lda = lda;
        public readonly int Ldb = ldb;
        public readonly int Ldc = ldc;
        public readonly int M = m;
        public readonly int N = n;
        public readonly int K = k;
        public readonly GemmShape Shape = shape;
    }

    // One block for float32 (tiles of 6 × 16) and float64 (6 × 8): a register tile is 6 rows × 2 Vector256<T>.
    // typeof(T) tests fold away when the JIT specializes each instantiation, so each gets the code it had when written twice.
    private static void GemmBlock<T>(in GemmArgs<T> g, int i0, int i1, int j0, int j1, int k0, int k1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int nr = 2 * Vector256<T>.Count;
        bool lowerC = g.Shape == GemmShape.LowerC, lowerB = g.Shape == GemmShape.LowerTriangularB;
        int j = j0;
        for (; j + nr <= j1; j += nr)
        {
            int p0 = lowerB ? Math.Clamp(j, k0, k1) : k0;
            T* bp = g.B + ((long)p0 * g.Ldb) + j;
            int kk = k1 - p0;
            int i = i0;
            for (; i + GemmRowTile <= i1; i += GemmRowTile)
            {
                if (lowerC && j > i + GemmRowTile - 1)
                {
                    continue;
                }

                Tile6(g.A + ((long)i * g.Lda) + p0, g.Lda, bp, g.Ldb, g.C + ((long)i * g.Ldc) + j, g.Ldc, kk);
            }

            for (; i < i1; i++)
            {
                if (lowerC && j > i)
                {
                    continue;
                }

                Tile1(g.A + ((long)i * g.Lda) + p0, bp, g.Ldb, g.C + ((long)i * g.Ldc) + j, kk);
            }
        }

        for (; j < j1; j++)
        {
            int p0 = lowerB ? Math.Clamp(j, k0, k1) : k0;
            for (int i = i0; i < i1; i++)
            {
                if (lowerC && j > i)
                {
                    continue;
                }

                T* ap = g.A + ((long)i * g.Lda);
                T sum = T.Zero;
                for (int p = p0; p < k1; p++)
                {
                    sum = T.FusedMultiplyAdd(ap[p], g.B[((long)p * g.Ldb) + j], sum);
                }

                g.C[((long)i * g.Ldc) + j] -= sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile6<T>(T* a, int lda, T* b, int ldb, T* c, int ldc, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        T* a0 = a, a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            b += ldb;
            var x = Vector256.Create(a0[p]);
            c00 = Fma(x, b0, c00);
            c01 = Fma(x, b1, c01);
            x = Vector256.Create(a1[p]);
            c10 = Fma(x, b0, c10);
            c11 = Fma(x, b1, c11);
            x = Vector256.Create(a2[p]);
            c20 = Fma(x, b0, c20);
            c21 = Fma(x, b1, c21);
            x = Vector256.Create(a3[p]);
            c30 = Fma(x, b0, c30);
            c31 = Fma(x, b1, c31);
            x = Vector256.Create(a4[p]);
            c40 = Fma(x, b0, c40);
            c41 = Fma(x, b1, c41);
            x = Vector256.Create(a5[p]);
            c50 = Fma(x, b0, c50);
            c51 = Fma(x, b1, c51);
        }

        Subtract(c, c00, c01);
        Subtract(c + ldc, c10, c11);
        Subtract(c + (2 * ldc), c20, c21);
        Subtract(c + (3 * ldc), c30, c31);
        Subtract(c + (4 * ldc), c40, c41);
        Subtract(c + (5 * ldc), c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile1<T>(T* a, T* b, int ldb, T* c, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector256<T>.Count;
        Vector256<T> c0 = default, c1 = default;
        for (int p = 0; p < k; p++)
        {
            var x = Vector256.Create(a[p]);
            c0 = Fma(x, Vector256.Load(b), c0);
            c1 = Fma(x, Vector256.Load(b + w), c1);
            b += ldb;
        }

        Subtract(c, c0, c1);
    }

    /// <summary>row[0 .. 2w) −= (lo, hi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Subtract<T>(T* row, Vector256<T> lo, Vector256<T> hi)
        where T : unmanaged
    {
        Vector256.Store(Vector256.Load(row) - lo, row);
        Vector256.Store(Vector256.Load(row + Vector256<T>.Count) - hi, row + Vector256<T>.Count);
    }

    /// <summary>x·y + acc rounded once: <see cref="Vector256.FusedMultiplyAdd(Vector256{float}, Vector256{float}, Vector256{float})"/>
    /// has float and double overloads only, so this picks one per instantiation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> x, Vector256<T> y, Vector256<T> acc)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        }

        if (typeof(T) == typeof(double))
        {
            return Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        }

        throw new NotSupportedException($"GEMM supports float and double, not {typeof(T).Name}.");
    }
}
