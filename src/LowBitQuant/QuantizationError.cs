using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>Measures of how much quantization changed a layer's outputs on its calibration statistics.</summary>
public static class QuantizationError
{
    /// <summary>
    /// The proxy loss tr(ΔW·H·ΔWᵀ) = Σ_rows δ·H·δᵀ with ΔW = Ŵ − W, the mean squared output error per token
    /// when H = XᵀX / tokens. With a diagonal estimate only the diagonal is used: Σ_rows Σ_j h_j δ_j².
    /// </summary>
    /// <param name="original">W, rows × columns.</param>
    /// <param name="quantized">Ŵ, rows × columns (e.g. from <see cref="QuantizedTensor.Dequantize(Span{float})"/>).</param>
    /// <param name="hessian">H of size columns.</param>
    /// <exception cref="ArgumentException">Sizes disagree.</exception>
    public static double ProxyLoss(DenseMatrix original, ReadOnlySpan<float> quantized, HessianEstimate hessian)
    {
        Validate(original, quantized, hessian);
        return RowQuadraticSum(Delta(original, quantized), original.Rows, original.Columns, hessian);
    }

    /// <summary>The relative output error ‖ΔW·X‖_F / ‖W·X‖_F = sqrt(tr(ΔW·H·ΔWᵀ) / tr(W·H·Wᵀ)).</summary>
    /// <exception cref="ArgumentException">Sizes disagree.</exception>
    public static double RelativeOutputError(DenseMatrix original, ReadOnlySpan<float> quantized, HessianEstimate hessian) =>
        Measure(original, quantized, hessian).RelativeOutputError;

    /// <summary>Both measures with one pass over ΔW (callers that report both use this).</summary>
    internal static (double ProxyLoss, double RelativeOutputError) Measure(DenseMatrix original, ReadOnlySpan<float> quantized, HessianEstimate hessian)
    {
        Validate(original, quantized, hessian);
        double loss = RowQuadraticSum(Delta(original, quantized), original.Rows, original.Columns, hessian);
        double reference = RowQuadraticSum(original.Data, original.Rows, original.Columns, hessian);
        return (loss, reference > 0 ? Math.Sqrt(loss / reference) : (loss > 0 ? double.PositiveInfinity : 0));
    }

    private static void Validate(DenseMatrix original, ReadOnlySpan<float> quantized, HessianEstimate hessian)
    {
        ArgumentNullException.ThrowIfNull(hessian);
        if (quantized.Length != original.Data.Length)
        {
            ThrowHelper.ThrowArgument(nameof(quantized), $"Expected {original.Data.Length} quantized weights, got {quantized.Length}.");
        }

        if (hessian.Size != original.Columns)
        {
            ThrowHelper.ThrowArgument(nameof(hessian), $"The Hessian has size {hessian.Size} but the weight has {original.Columns} columns.");
        }
    }

    private static float[] Delta(DenseMatrix original, ReadOnlySpan<float> quantized)
    {
        var delta = new float[quantized.Length];
        TensorPrimitives.Subtract(quantized, original.Data.Span, delta);
        return delta;
    }

    /// <summary>Rows per chunk: about 2²⁴ floats (64 MiB) of V·H, at least 96 rows, so that packing H once per chunk stays a small
    /// fraction of the chunk's 2·rows·n² flops.</summary>
    private static int ChunkRows(int rows, int n) => Math.Min(rows, Math.Max(96, (1 << 24) / n));

    /// <summary>
    /// Σ_r v_r·H·v_rᵀ. Full H: P = V·Hᵀ for a chunk of rows with the runtime's packed AVX-512 kernel (or P = V·H with the blocked
    /// 256-bit GEMM on CPUs without AVX-512; float32 accumulation over the n products, as a row-by-row quadratic form also has), then
    /// Σ_j v_rj·P_rj per row in float64. Diagonal H: Σ_j h_j·v_rj² per row in float64.
    /// </summary>
    /// <param name="v">Rows × n, row-major.</param>
    /// <param name="rows">Rows of <paramref name="v"/>.</param>
    /// <param name="n">Columns of <paramref name="v"/> and size of H.</param>
    /// <param name="hessian">H.</param>
    /// <param name="chunkRows">Rows per GEMM chunk; 0 picks about 2²⁴ floats of V·H (tests pass small values to cross chunk edges).</param>
    /// <param name="packed">Use the packed AVX-512 kernel where the CPU has it (tests pass false to run the GEMM path).</param>
    internal static double RowQuadraticSum(ReadOnlyMemory<float> v, int rows, int n, HessianEstimate hessian, int chunkRows = 0, bool packed = true)
    {
        if (hessian.Kind != HessianKind.Full)
        {
            float[] diag = hessian.DiagonalArray;
            var perRow = new double[rows];
            Parallel.For(0, rows, r =>
            {
                var d = v.Span.Slice(r * n, n);
                double sum = 0;
                for (int i = 0; i < n; i++)
                {
                    sum += (double)diag[i] * d[i] * d[i];
                }

                perRow[r] = sum;
            });
            return perRow.Sum();
        }

        float[] h = hessian.MatrixArray;
        int chunk = chunkRows > 0 ? Math.Min(chunkRows, rows) : ChunkRows(rows, n);
        float[] product = ArrayPool<float>.Shared.Rent(chunk * n);
        try
        {
            double total = 0;
            for (int r0 = 0; r0 < rows; r0 += chunk)
            {
                int m = Math.Min(chunk, rows - r0);
                var block = v.Span.Slice(r0 * n, m * n);
                var p = product.AsSpan(0, m * n);
                if (packed && LlamaKernels.PackedSupported)
                {
                    // p = V·Hᵀ: v·Hᵀ·vᵀ is the same scalar as v·H·vᵀ (its transpose), so H need not be exactly symmetric.
                    LlamaKernels.MatMulTransposedPacked(block, m, n, h, n, p);
                    total += RowDotSum(block, p);
                }
                else
                {
                    p.Clear();
                    CpuKernels.MultiplySubtract(block, n, h, n, p, n, m, n, n); // p = −V·H
                    total -= RowDotSum(block, p);
                }
            }

            return total;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(product);
        }
    }

    /// <summary>Σᵢ aᵢ·bᵢ in float64 (the float32 inputs are widened before multiplying).</summary>
    private static double RowDotSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> lo = Vector256<double>.Zero, hi = lo;
            for (; i + 8 <= a.Length; i += 8)
            {
                var (al, ah) = Vector256.Widen(Vector256.Create(a.Slice(i, 8)));
                var (bl, bh) = Vector256.Widen(Vector256.Create(b.Slice(i, 8)));
                lo = Vector256.FusedMultiplyAdd(al, bl, lo);
                hi = Vector256.FusedMultiplyAdd(ah, bh, hi);
            }

            sum = Vector256.Sum(lo + hi);
        }

        for (; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return sum;
    }
}
