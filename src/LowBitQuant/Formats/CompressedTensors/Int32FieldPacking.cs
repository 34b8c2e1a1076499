namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>
/// The compressed-tensors int32 packing (compressed-tensors.md §3): f = 32 / b unsigned b-bit fields per word,
/// field j at bits [b·j, b·j + b), no field spans two words, and the last word of a run is zero-padded.
/// </summary>
/// <remarks>
/// Two layouts use it: <c>weight_packed</c> packs each row along the input dimension ([rows, ceil(columns / f)]),
/// and <c>weight_zero_point</c> packs along dimension 0, the output ([ceil(rows / f), columns]).
/// Words are stored as the plain uint32 bit pattern reinterpreted as int32.
/// </remarks>
internal static class Int32FieldPacking
{
    /// <summary>Fields per int32 word, 32 / <paramref name="bits"/>.</summary>
    public static int FieldsPerWord(int bits) => 32 / bits;

    /// <summary>Words needed for <paramref name="count"/> fields, ceil(count / f).</summary>
    public static int WordCount(int count, int bits)
    {
        int f = FieldsPerWord(bits);
        return (count + f - 1) / f;
    }

    /// <summary>Packs a row-major [rows, columns] matrix of fields along each row into [rows, ceil(columns / f)] words.</summary>
    public static void PackRows(ReadOnlySpan<byte> values, int rows, int columns, int bits, Span<int> destination)
    {
        int f = FieldsPerWord(bits);
        int words = WordCount(columns, bits);
        for (int r = 0; r < rows; r++)
        {
            var row = values.Slice(r * columns, columns);
            var packed = destination.Slice(r * words, words);
            for (int w = 0, start = 0; w < words; w++, start += f)
            {
                int end = Math.Min(start + f, columns);
                uint word = 0;
                for (int i = start, shift = 0; i < end; i++, shift += bits)
                {
                    word |= (uint)row[i] << shift;
                }

                packed[w] = (int)word;
            }
        }
    }

    /// <summary>Unpacks [rows, ceil(columns / f)] words into a row-major [rows, columns] matrix, dropping the padding.</summary>
    public static void UnpackRows(ReadOnlySpan<int> packed, int rows, int columns, int bits, Span<byte> destination)
    {
        int f = FieldsPerWord(bits);
        int words = WordCount(columns, bits);
        uint mask = (1u << bits) - 1;
        for (int r = 0; r < rows; r++)
        {
            var source = packed.Slice(r * words, words);
            var row = destination.Slice(r * columns, columns);
            for (int w = 0, start = 0; w < words; w++, start += f)
            {
                uint word = (uint)source[w];
                int end = Math.Min(start + f, columns);
                for (int i = start; i < end; i++, word >>= bits)
                {
                    row[i] = (byte)(word & mask);
                }
            }
        }
    }

    /// <summary>Packs a row-major [rows, columns] matrix of fields along dimension 0 into [ceil(rows / f), columns] words.</summary>
    public static void PackAlongDim0(ReadOnlySpan<byte> values, int rows, int columns, int bits, Span<int> destination)
    {
        int f = FieldsPerWord(bits);
        int words = WordCount(rows, bits);
        for (int w = 0; w < words; w++)
        {
            int start = w * f;
            int end = Math.Min(start + f, rows);
            var dst = destination.Slice(w * columns, columns);
            for (int c = 0; c < columns; c++)
            {
                uint word = 0;
                for (int r = start, shift = 0; r < end; r++, shift += bits)
                {
                    word |= (uint)values[(r * columns) + c] << shift;
                }

                dst[c] = (int)word;
            }
        }
    }

    /// <summary>Unpacks [ceil(rows / f), columns] words packed along dimension 0 into a row-major [rows, columns] matrix.</summary>
    public static void UnpackAlongDim0(ReadOnlySpan<int> packed, int rows, int columns, int bits, Span<byte> destination)
    {
        int f = FieldsPerWord(bits);
        uint mask = (1u << bits) - 1;
        for (int r = 0; r < rows; r++)
        {
            int shift = (r % f) * bits;
            var src = packed.Slice((r / f) * columns, columns);
            var dst = destination.Slice(r * columns, columns);
            for (int c = 0; c < columns; c++)
            {
                dst[c] = (byte)(((uint)src[c] >> shift) & mask);
            }
        }
    }

    /// <summary>
    /// The bits of a word that hold no field when it carries <paramref name="usedFields"/> fields: the unused top bits
    /// and the padding fields. They must be zero in a well-formed tensor.
    /// </summary>
    public static uint UnusedBits(int usedFields, int bits)
    {
        int usedBits = usedFields * bits;
        return usedBits >= 32 ? 0u : ~((1u << usedBits) - 1);
    }

    /// <summary>Fields held by word <paramref name="word"/> of a run of <paramref name="count"/> fields.</summary>
    public static int FieldsInWord(int word, int count, int bits)
    {
        int f = FieldsPerWord(bits);
        return Math.Min(f, count - (word * f));
    }
}
