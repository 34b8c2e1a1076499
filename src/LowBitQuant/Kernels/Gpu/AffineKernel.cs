using ILGPU;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>
/// Affine quantize and dequantize over contiguous groups of <c>groupSize</c> elements, each with its own scale and zero:
/// q = clamp(round(x / s + frac(z)) + int(z), 0, maxq) with round half to even, and ŵ = s · (q − z) —
/// the same float operations, in the same order, as the CPU <c>AffineQuantizeOperator</c>/<c>AffineDequantizeOperator</c>.
/// </summary>
internal static class AffineKernel
{
    /// <summary>Implicitly grouped: one thread per element. int(z) is z rounded half to even; frac(z) = z − int(z).</summary>
    public static void Quantize(Index1D index, ArrayView<float> x, ArrayView<float> scales, ArrayView<float> zeros, ArrayView<byte> codes, int groupSize, int maxCode)
    {
        int g = index / groupSize;
        float scale = scales[g];
        float zero = zeros[g];
        float zeroInteger = MathF.Round(zero);
        float zeroFraction = zero - zeroInteger;
        float q = MathF.Max(0f, MathF.Min(MathF.Round((x[index] / scale) + zeroFraction) + zeroInteger, maxCode));
        codes[index] = (byte)q;
    }

    /// <summary>Implicitly grouped: one thread per element, ŵ = s · (q − z).</summary>
    public static void Dequantize(Index1D index, ArrayView<byte> codes, ArrayView<float> scales, ArrayView<float> zeros, ArrayView<float> destination, int groupSize)
    {
        int g = index / groupSize;
        destination[index] = scales[g] * (codes[index] - zeros[g]);
    }
}
