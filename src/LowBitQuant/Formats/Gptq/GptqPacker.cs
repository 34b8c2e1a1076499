using System.Diagnostics.CodeAnalysis;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// Converts a <see cref="QuantizedTensor"/> into GPTQ checkpoint layout (formats/gptq-checkpoint.md): codes packed along
/// the input dimension, integer zero-points packed along the output dimension under the v1 or v2 convention, fp16 scales
/// and g_idx.
/// </summary>
/// <remarks>
/// Nothing is padded or clamped: a tensor the format cannot hold is rejected with the reason (see <see cref="CanPack"/>).
/// Scales are rounded to fp16 (round to nearest even); when the tensor's scales are already fp16 values (as the grid
/// code produces), the packed layer dequantizes to exactly <see cref="QuantizedTensor.Dequantize()"/>, otherwise
/// <see cref="GptqPackedLayer.ScalesRounded"/> is set.
/// </remarks>
public static class GptqPacker
{
    /// <summary>
    /// Whether <paramref name="tensor"/> can be stored as a GPTQ layer: bits in {2, 3, 4, 8}; no input transform; input
    /// and output channels multiples of 32; integer zero-points in [0, 2^b − 1]; scales that survive conversion to fp16
    /// (no overflow to infinity, no underflow to zero).
    /// </summary>
    /// <param name="tensor">The quantized tensor (rows = output channels, columns = input channels).</param>
    /// <param name="reason">Why it cannot be packed, or <see langword="null"/> when it can.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is <see langword="null"/>.</exception>
    public static bool CanPack(QuantizedTensor tensor, [NotNullWhen(false)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        reason = FindProblem(tensor);
        return reason is null;
    }

    /// <summary>
    /// The convention LowBitQuant writes for <paramref name="tensor"/> (formats/gptq-checkpoint.md §3):
    /// <see cref="GptqZeroConvention.V1"/> unless some zero-point is 0, which v1 cannot store, then
    /// <see cref="GptqZeroConvention.V2"/>. Symmetric grids (z = 2^(b−1)) are always v1.
    /// </summary>
    /// <remarks>A checkpoint has one label: for a whole model use v2 when any layer needs it.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is <see langword="null"/>.</exception>
    public static GptqZeroConvention SelectConvention(QuantizedTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.Zeros.Span.IndexOf(0f) >= 0 ? GptqZeroConvention.V2 : GptqZeroConvention.V1;
    }

    /// <summary>Packs <paramref name="tensor"/> into GPTQ checkpoint layout.</summary>
    /// <param name="tensor">The quantized tensor (rows = output channels, columns = input channels).</param>
    /// <param name="convention">
    /// The zero convention to store, or <see langword="null"/> to choose with <see cref="SelectConvention"/>. Asking for
    /// <see cref="GptqZeroConvention.V1"/> when a zero-point is 0 throws: v1 cannot store it, and the field is never
    /// allowed to underflow into its neighbours.
    /// </param>
    /// <returns>The packed layer; its arrays are new and owned by it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="tensor"/> cannot be packed (the message is <see cref="CanPack"/>'s reason), or
    /// <paramref name="convention"/> is v1 and a zero-point is 0.
    /// </exception>
    public static GptqPackedLayer Pack(QuantizedTensor tensor, GptqZeroConvention? convention = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (FindProblem(tensor) is string problem)
        {
            ThrowHelper.ThrowArgument(nameof(tensor), problem);
        }

        if (convention is GptqZeroConvention requested && !Enum.IsDefined(requested))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(convention), requested, "Unknown GPTQ zero convention.");
        }

        var chosen = convention ?? SelectConvention(tensor);
        int outFeatures = tensor.Rows, inFeatures = tensor.Columns, groups = tensor.GroupCount, bits = tensor.Scheme.Bits;
        var zeros = tensor.Zeros.Span;
        var sourceScales = tensor.Scales.Span;
        if (chosen == GptqZeroConvention.V1)
        {
            int zeroAt = zeros.IndexOf(0f);
            if (zeroAt >= 0)
            {
                ThrowHelper.ThrowArgument(
                    nameof(convention),
                    $"Zero-point [{zeroAt / groups}, {zeroAt % groups}] is 0, which GPTQ v1 (\"gptq\") cannot store: its field z − 1 would underflow. " +
                    "Use GptqZeroConvention.V2 (\"gptq_v2\"), or quantize with zeros constrained to [1, 2^b − 1].");
            }
        }

        // Transpose [out, G] → [G, out] while converting: stored zero fields and fp16 scales.
        int offset = chosen.ZeroOffset();
        var fields = new byte[groups * outFeatures];
        var scales = new Half[groups * outFeatures];
        bool rounded = false;
        for (int o = 0; o < outFeatures; o++)
        {
            for (int g = 0; g < groups; g++)
            {
                int src = (o * groups) + g, dst = (g * outFeatures) + o;
                fields[dst] = (byte)((int)zeros[src] - offset);
                var half = (Half)sourceScales[src];
                scales[dst] = half;
                rounded |= (float)half != sourceScales[src];
            }
        }

        int[] qweight = GptqBitPacking.PackQWeight(tensor.Codes.Span, outFeatures, inFeatures, bits);
        int[] qzeros = GptqBitPacking.PackAlongColumns(fields, groups, outFeatures, bits);
        int[] gIdx = tensor.GroupIndex.IsEmpty
            ? GptqGroupIndex.Identity(inFeatures, tensor.Scheme.GroupWidth(inFeatures))
            : tensor.GroupIndex.ToArray();
        return new GptqPackedLayer(bits, tensor.Scheme.GroupSize, tensor.Scheme.Symmetric, chosen, inFeatures, outFeatures, qweight, qzeros, scales, gIdx, rounded);
    }

    private static string? FindProblem(QuantizedTensor tensor)
    {
        int bits = tensor.Scheme.Bits;
        if (!GptqBitPacking.IsSupported(bits))
        {
            return $"GPTQ checkpoints store 2, 3, 4 or 8 bits per weight; this tensor uses {bits} bits.";
        }

        if (tensor.InputTransform is not null)
        {
            return "The tensor carries an input transform (HeRo-Q scaling/rotation); a GPTQ checkpoint has no place for it. " +
                "Fold the transform into the neighbouring layers first (the folding path), or use a format that stores it.";
        }

        if (tensor.Columns % 32 != 0)
        {
            return $"Input channels (columns) = {tensor.Columns} is not a multiple of 32, which GPTQ packing requires along the input dimension; " +
                "leave this module unquantized and list it as excluded (it is never padded).";
        }

        if (tensor.Rows % 32 != 0)
        {
            return $"Output channels (rows) = {tensor.Rows} is not a multiple of 32, which GPTQ packing requires along the output dimension (qzeros); " +
                "leave this module unquantized and list it as excluded (it is never padded).";
        }

        var zeros = tensor.Zeros.Span;
        int groups = tensor.GroupCount;
        int maxCode = tensor.Scheme.MaxCode;
        for (int i = 0; i < zeros.Length; i++)
        {
            float z = zeros[i];
            if (z != MathF.Round(z))
            {
                return $"Zero-point [{i / groups}, {i % groups}] = {z} is not an integer (real-valued zeros, e.g. DASH-Q); GPTQ stores integer zero-points. " +
                    "Quantize with integer zero-points or use the DASH-Q format.";
            }

            if (z < 0 || z > maxCode)
            {
                return $"Zero-point [{i / groups}, {i % groups}] = {z} is outside [0, {maxCode}], the range of a {bits}-bit GPTQ zero field.";
            }
        }

        var scales = tensor.Scales.Span;
        for (int i = 0; i < scales.Length; i++)
        {
            var half = (Half)scales[i];
            if (Half.IsInfinity(half))
            {
                return $"Scale [{i / groups}, {i % groups}] = {scales[i]} overflows fp16 (largest finite value {Half.MaxValue}); GPTQ stores fp16 scales.";
            }

            if (half == Half.Zero)
            {
                return $"Scale [{i / groups}, {i % groups}] = {scales[i]} underflows to 0 in fp16 (smallest positive value {Half.Epsilon}); GPTQ stores fp16 scales.";
            }
        }

        return null;
    }
}
