using System.Diagnostics.CodeAnalysis;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>
/// Converts <see cref="QuantizedTensor"/> results into the compressed-tensors <c>pack-quantized</c> layout
/// (compressed-tensors.md §5) and states which results the layout cannot represent.
/// </summary>
/// <remarks>
/// The stored fields are our unsigned codes q ∈ [0, 2^b − 1] and integer zero points z unchanged (the format's signed
/// values shifted by 2^(b−1)), so packing never alters a code. Representable: integer zero points in [0, 2^b − 1];
/// strategy "channel" (no group size) or "group" with a group size dividing the input width; consecutive groups or any
/// g_idx; no input transform; scales that stay positive, finite and normal in the chosen 16-bit dtype.
/// </remarks>
public static class PackQuantizedPacker
{
    /// <summary>Whether <paramref name="tensor"/> can be packed with the default options.</summary>
    /// <param name="tensor">The result to check.</param>
    /// <param name="reason">Why not, naming the offending values; <see langword="null"/> when it can.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    public static bool CanPack(QuantizedTensor tensor, [NotNullWhen(false)] out string? reason) =>
        CanPack(tensor, PackQuantizedOptions.Default, out reason);

    /// <summary>Whether <paramref name="tensor"/> can be packed with <paramref name="options"/>.</summary>
    /// <param name="tensor">The result to check.</param>
    /// <param name="options">Packing choices; <see langword="null"/> for <see cref="PackQuantizedOptions.Default"/>.</param>
    /// <param name="reason">Why not, naming the offending values; <see langword="null"/> when it can.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    public static bool CanPack(QuantizedTensor tensor, PackQuantizedOptions? options, [NotNullWhen(false)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        options ??= PackQuantizedOptions.Default;
        reason = Check(tensor, options);
        return reason is null;
    }

    /// <summary>Packs <paramref name="tensor"/> into the <c>pack-quantized</c> tensors.</summary>
    /// <param name="tensor">The result to pack.</param>
    /// <param name="options">Packing choices; <see langword="null"/> for <see cref="PackQuantizedOptions.Default"/>.</param>
    /// <returns>The module's tensors; codes and zero points unchanged, scales rounded to nearest even in the chosen dtype.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="tensor"/> is not representable (<see cref="CanPack(QuantizedTensor, PackQuantizedOptions?, out string?)"/> gives the reason).</exception>
    public static PackQuantizedLayer Pack(QuantizedTensor tensor, PackQuantizedOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        options ??= PackQuantizedOptions.Default;
        if (Check(tensor, options) is string reason)
        {
            ThrowHelper.ThrowArgument(nameof(tensor), reason);
        }

        int bits = tensor.Scheme.Bits;
        int rows = tensor.Rows, columns = tensor.Columns, groups = tensor.GroupCount;
        var packed = new int[(long)rows * Int32FieldPacking.WordCount(columns, bits)];
        Int32FieldPacking.PackRows(tensor.Codes.Span, rows, columns, bits, packed);

        var scaleSource = tensor.Scales.Span;
        var scales = new ushort[scaleSource.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            scales[i] = ScaleConversion.Encode(scaleSource[i], options.ScaleType);
        }

        int[]? zeroPoints = null;
        if (!IsSymmetric(tensor, options))
        {
            var zeros = tensor.Zeros.Span;
            var fields = new byte[zeros.Length];
            for (int i = 0; i < fields.Length; i++)
            {
                fields[i] = (byte)zeros[i];
            }

            zeroPoints = new int[(long)Int32FieldPacking.WordCount(rows, bits) * groups];
            Int32FieldPacking.PackAlongDim0(fields, rows, groups, bits, zeroPoints);
        }

        int[]? groupIndex = null;
        if (options.WriteGroupIndex || !IsTrivialGroupIndex(tensor))
        {
            groupIndex = new int[columns];
            for (int j = 0; j < columns; j++)
            {
                groupIndex[j] = tensor.GroupOf(j);
            }
        }

        return new PackQuantizedLayer(bits, tensor.Scheme.GroupSize, rows, columns, packed, scales, options.ScaleType, zeroPoints, groupIndex);
    }

    private static string? Check(QuantizedTensor tensor, PackQuantizedOptions options)
    {
        var scheme = tensor.Scheme;
        if (tensor.InputTransform is not null)
        {
            return "The tensor carries an input transform (HeRo-Q online transform), which pack-quantized cannot represent; "
                + "fold the foldable parts into the weights and quantize without an online transform.";
        }

        if (scheme.GroupSize is int g && tensor.Columns % g != 0)
        {
            return $"Group size {g} does not divide in = {tensor.Columns}: the format takes G = in // group_size = {tensor.Columns / g} "
                + $"(floor division) while the tensor has {tensor.GroupCount} groups; use a group size that divides {tensor.Columns}.";
        }

        var zeros = tensor.Zeros.Span;
        int groups = tensor.GroupCount;
        for (int i = 0; i < zeros.Length; i++)
        {
            float z = zeros[i];
            if (z != MathF.Round(z))
            {
                return FormattableString.Invariant($"Zero point [{i / groups}, {i % groups}] = {z} is not an integer (real-valued zeros, e.g. DASH-Q); ")
                    + "pack-quantized stores integer zero points only; use the integer-zero variant.";
            }

            if (z < 0 || z > scheme.MaxCode)
            {
                return FormattableString.Invariant($"Zero point [{i / groups}, {i % groups}] = {z} is outside the {scheme.Bits}-bit field range [0, {scheme.MaxCode}].");
            }
        }

        if (options.Symmetric == true && !AllZerosSymmetric(tensor))
        {
            return $"Symmetric output was requested but not every zero point equals 2^(b−1) = {scheme.SymmetricZero}.";
        }

        float smallest = ScaleConversion.SmallestNormal(options.ScaleType);
        var scales = tensor.Scales.Span;
        for (int i = 0; i < scales.Length; i++)
        {
            float stored = ScaleConversion.Decode(ScaleConversion.Encode(scales[i], options.ScaleType), options.ScaleType);
            if (float.IsInfinity(stored) || stored < smallest)
            {
                string dtype = ScaleConversion.SafetensorsName(options.ScaleType);
                return FormattableString.Invariant($"Scale [{i / groups}, {i % groups}] = {scales[i]} is not representable in {dtype} (it becomes {stored}; ")
                    + FormattableString.Invariant($"the normal range starts at {smallest}){(options.ScaleType == ScaleDataType.Float16 ? "; store the scales as BF16" : string.Empty)}.");
            }
        }

        return null;
    }

    private static bool IsSymmetric(QuantizedTensor tensor, PackQuantizedOptions options) =>
        options.Symmetric ?? AllZerosSymmetric(tensor);

    private static bool AllZerosSymmetric(QuantizedTensor tensor)
    {
        float symmetricZero = tensor.Scheme.SymmetricZero;
        foreach (float z in tensor.Zeros.Span)
        {
            if (z != symmetricZero)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsTrivialGroupIndex(QuantizedTensor tensor)
    {
        var groupIndex = tensor.GroupIndex.Span;
        if (groupIndex.IsEmpty)
        {
            return true;
        }

        int width = tensor.Scheme.GroupWidth(tensor.Columns);
        for (int j = 0; j < groupIndex.Length; j++)
        {
            if (groupIndex[j] != j / width)
            {
                return false;
            }
        }

        return true;
    }
}
