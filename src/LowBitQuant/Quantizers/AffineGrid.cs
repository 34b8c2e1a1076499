using System.Numerics.Tensors;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Quantizers;

/// <summary>
/// Fits the (scale, zero) of one group of weights on an affine grid, as reference GPTQ's <c>find_params</c> does,
/// and quantizes with it.
/// </summary>
/// <remarks>
/// Min–max fit: x_min = min(min x, 0), x_max = max(max x, 0) (the range always holds 0).
/// Symmetric: x_max = max(|x_min|, x_max), x_min = −x_max, z = 2^(b−1). All-zero groups use [−1, 1].
/// s = (x_max − x_min) / maxq; asymmetric z = round(−x_min / s). The scale is rounded to float16 (what checkpoints store)
/// before the zero and the codes are computed, so the codes are optimal for the stored grid.
/// Deviation from the reference (documented in algorithms/gptq.md §4): a symmetric group without negative values is treated
/// like any other (x_min = −x_max) instead of clipping its positive half.
/// </remarks>
internal static class AffineGrid
{
    /// <summary>Min–max fit of one group.</summary>
    public static (float Scale, float Zero) Fit(ReadOnlySpan<float> x, QuantizationScheme scheme)
    {
        float min = x.IsEmpty ? 0 : TensorPrimitives.Min(x);
        float max = x.IsEmpty ? 0 : TensorPrimitives.Max(x);
        return FitRange(MathF.Min(min, 0), MathF.Max(max, 0), scheme);
    }

    /// <summary>Fit of a range [xmin, xmax] that holds 0.</summary>
    public static (float Scale, float Zero) FitRange(float xmin, float xmax, QuantizationScheme scheme)
    {
        int maxq = scheme.MaxCode;
        if (scheme.Symmetric)
        {
            xmax = MathF.Max(-xmin, xmax);
            xmin = -xmax;
        }

        if (xmin == 0 && xmax == 0)
        {
            xmin = -1;
            xmax = 1;
        }

        float scale = RoundScale((xmax - xmin) / maxq);
        float zero = scheme.Symmetric ? scheme.SymmetricZero : Math.Clamp(MathF.Round(-xmin / scale), 0, maxq);
        return (scale, zero);
    }

    /// <summary>
    /// Fit with a clipping search (see <see cref="ClipSearch"/>): the best of the shrunk ranges by Σ w_j |ŵ_j − x_j|^norm.
    /// <paramref name="weights"/> is empty for an unweighted search.
    /// </summary>
    public static (float Scale, float Zero) FitWithSearch(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, QuantizationScheme scheme, ClipSearch search)
    {
        float min = MathF.Min(x.IsEmpty ? 0 : TensorPrimitives.Min(x), 0);
        float max = MathF.Max(x.IsEmpty ? 0 : TensorPrimitives.Max(x), 0);
        var best = FitRange(min, max, scheme);
        if (x.IsEmpty)
        {
            return best;
        }

        float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(x.Length);
        byte[] codes = System.Buffers.ArrayPool<byte>.Shared.Rent(x.Length);
        try
        {
            var err = scratch.AsSpan(0, x.Length);
            double bestError = double.PositiveInfinity;
            for (int i = 0; i < search.CandidateCount; i++)
            {
                float p = 1f - ((float)i / search.Steps);
                var candidate = FitRange(p * min, p * max, scheme);
                double e = Error(x, weights, candidate, scheme.MaxCode, search.Norm, codes.AsSpan(0, x.Length), err);
                if (e < bestError)
                {
                    bestError = e;
                    best = candidate;
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
            System.Buffers.ArrayPool<byte>.Shared.Return(codes);
        }

        return best;
    }

    /// <summary>Σ w_j |ŵ_j − x_j|^norm for one candidate grid.</summary>
    private static double Error(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, (float Scale, float Zero) grid, int maxq, double norm, Span<byte> codes, Span<float> err)
    {
        CpuKernels.QuantizeAffine(x, grid.Scale, grid.Zero, maxq, codes);
        CpuKernels.DequantizeAffine(codes, grid.Scale, grid.Zero, err);
        TensorPrimitives.Subtract(err, x, err);
        TensorPrimitives.Abs(err, err);
        if (norm == 2)
        {
            TensorPrimitives.Multiply(err, err, err);
        }
        else if (norm != 1)
        {
            TensorPrimitives.Pow(err, (float)norm, err);
        }

        return weights.IsEmpty ? TensorPrimitives.Sum(err) : TensorPrimitives.Dot(err, weights);
    }

    /// <summary>Rounds a scale to float16 when that keeps it positive and finite; otherwise keeps it (writers then reject it).</summary>
    public static float RoundScale(float scale)
    {
        float rounded = (float)(Half)scale;
        return rounded > 0 && float.IsFinite(rounded) ? rounded : scale;
    }
}
