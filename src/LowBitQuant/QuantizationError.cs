using System.Numerics.Tensors;
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

    /// <summary>Σ_r v_r·H·v_rᵀ, rows in parallel, each row's quadratic form accumulated in float64.</summary>
    private static double RowQuadraticSum(ReadOnlyMemory<float> v, int rows, int n, HessianEstimate hessian)
    {
        float[] h = hessian.MatrixArray, diag = hessian.DiagonalArray;
        bool full = hessian.Kind == HessianKind.Full;
        var perRow = new double[rows];
        Parallel.For(0, rows, r =>
        {
            var d = v.Span.Slice(r * n, n);
            double sum = 0;
            if (full)
            {
                for (int i = 0; i < n; i++)
                {
                    if (d[i] != 0)
                    {
                        sum += d[i] * (double)TensorPrimitives.Dot(h.AsSpan(i * n, n), d);
                    }
                }
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    sum += (double)diag[i] * d[i] * d[i];
                }
            }

            perRow[r] = sum;
        });
        return perRow.Sum();
    }
}
