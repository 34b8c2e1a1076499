namespace LowBitQuant.Tests.Formats.CompressedTensors;

/// <summary>
/// Plain bit-by-bit reference of the pack-quantized layout (compressed-tensors.md §3), written from the spec:
/// element i of a run goes to word i / f, field i % f, and its bit k to bit b·(i % f) + k of that word.
/// </summary>
internal static class ReferencePackQuantized
{
    public static int FieldsPerWord(int bits) => 32 / bits;

    /// <summary>Packs one run of unsigned fields into ceil(n / f) words, bit by bit.</summary>
    public static uint[] PackRun(IReadOnlyList<int> fields, int bits)
    {
        int f = FieldsPerWord(bits);
        var words = new uint[(fields.Count + f - 1) / f];
        for (int i = 0; i < fields.Count; i++)
        {
            for (int k = 0; k < bits; k++)
            {
                uint bit = (uint)(fields[i] >> k) & 1u;
                words[i / f] |= bit << ((bits * (i % f)) + k);
            }
        }

        return words;
    }

    /// <summary>Reads field i of a run back, bit by bit.</summary>
    public static int Field(IReadOnlyList<uint> words, int i, int bits)
    {
        int f = FieldsPerWord(bits);
        int v = 0;
        for (int k = 0; k < bits; k++)
        {
            v |= (int)((words[i / f] >> ((bits * (i % f)) + k)) & 1u) << k;
        }

        return v;
    }

    /// <summary>weight_packed: each row of a row-major [rows, columns] matrix packed on its own, rows concatenated.</summary>
    public static int[] PackRows(IReadOnlyList<int> values, int rows, int columns, int bits)
    {
        var result = new List<int>();
        for (int r = 0; r < rows; r++)
        {
            var row = new int[columns];
            for (int c = 0; c < columns; c++)
            {
                row[c] = values[(r * columns) + c];
            }

            result.AddRange(PackRun(row, bits).Select(w => unchecked((int)w)));
        }

        return result.ToArray();
    }

    /// <summary>weight_zero_point: each column packed along dimension 0; result [ceil(rows / f), columns] row-major.</summary>
    public static int[] PackDim0(IReadOnlyList<int> values, int rows, int columns, int bits)
    {
        int f = FieldsPerWord(bits);
        int words = (rows + f - 1) / f;
        var result = new int[words * columns];
        for (int c = 0; c < columns; c++)
        {
            var column = new int[rows];
            for (int r = 0; r < rows; r++)
            {
                column[r] = values[(r * columns) + c];
            }

            var packed = PackRun(column, bits);
            for (int w = 0; w < words; w++)
            {
                result[(w * columns) + c] = unchecked((int)packed[w]);
            }
        }

        return result;
    }
}
