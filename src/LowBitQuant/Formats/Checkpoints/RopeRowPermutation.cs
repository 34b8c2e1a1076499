namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// The q/k row permutation from llama2.c's adjacent-pair RoPE order to Hugging Face's half rotation (formats/llama2c.md §3):
/// within each head of size d, old row 2i + j (j ∈ {0, 1}) becomes new row j·d/2 + i.
/// </summary>
internal static class RopeRowPermutation
{
    /// <summary>Whether <paramref name="tensor"/> carries RoPE'd rows (query and key projections).</summary>
    public static bool Applies(LlamaTensor tensor) => tensor is LlamaTensor.QueryProjection or LlamaTensor.KeyProjection;

    /// <summary>The old (adjacent-pair) row that lands on new (half-rotation) row <paramref name="newRow"/>.</summary>
    public static int SourceRow(int newRow, int headDim)
    {
        int head = newRow / headDim, r = newRow % headDim, half = headDim / 2;
        int j = r / half, i = r % half;
        return (head * headDim) + (2 * i) + j;
    }

    /// <summary>Permutes the rows of a row-major [rows, columns] matrix in place.</summary>
    public static void PermuteRows(Span<float> matrix, int rows, int columns, int headDim)
    {
        float[] old = matrix[..(rows * columns)].ToArray();
        for (int n = 0; n < rows; n++)
        {
            old.AsSpan(SourceRow(n, headDim) * columns, columns).CopyTo(matrix.Slice(n * columns, columns));
        }
    }

    /// <summary>A new tensor whose rows (codes, scales, zeros) are permuted; columns, group index and input transform are unchanged.</summary>
    public static QuantizedTensor PermuteRows(QuantizedTensor tensor, int headDim)
    {
        int rows = tensor.Rows, columns = tensor.Columns, groups = tensor.GroupCount;
        var codes = new byte[(long)rows * columns];
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        var srcCodes = tensor.Codes.Span;
        var srcScales = tensor.Scales.Span;
        var srcZeros = tensor.Zeros.Span;
        for (int n = 0; n < rows; n++)
        {
            int o = SourceRow(n, headDim);
            srcCodes.Slice(o * columns, columns).CopyTo(codes.AsSpan(n * columns, columns));
            srcScales.Slice(o * groups, groups).CopyTo(scales.AsSpan(n * groups, groups));
            srcZeros.Slice(o * groups, groups).CopyTo(zeros.AsSpan(n * groups, groups));
        }

        return new QuantizedTensor(tensor.Scheme, rows, columns, codes, scales, zeros, tensor.GroupIndex.ToArray(), tensor.InputTransform, tensor.Diagnostics);
    }
}
