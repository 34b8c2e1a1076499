using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// GPTQ bit packing (formats/gptq-checkpoint.md §2): 32 consecutive b-bit values form the little-endian bit string
/// Σ_k v_k · 2^(b·k), cut into b 32-bit words, low word first. One rule for b ∈ {2, 3, 4, 8}; at 3 bits codes 10 and 21
/// straddle word boundaries.
/// </summary>
/// <remarks>
/// Table-driven: for each width a 32-entry table gives the word and bit offset of value k and whether it spills into the
/// next word. Packing ORs each value into its word (and the spill into the next); unpacking reads it back and masks.
/// Words are handled as <see cref="uint"/> and stored as <see cref="int"/> with the same bits.
/// </remarks>
internal static class GptqBitPacking
{
    /// <summary>Values per run: every width packs 32 values into <c>bits</c> words.</summary>
    public const int RunLength = 32;

    private static readonly RunLayout[] Layouts = [new(2), new(3), new(4), new(8)];

    /// <summary>Whether <paramref name="bits"/> is one of the widths GPTQ checkpoints use (2, 3, 4, 8).</summary>
    public static bool IsSupported(int bits) => bits is 2 or 3 or 4 or 8;

    /// <summary>Packs 32 values (each &lt; 2^bits) into <paramref name="bits"/> words.</summary>
    public static void PackRun(ReadOnlySpan<byte> values, int bits, Span<uint> words)
    {
        var layout = Layout(bits);
        values = values[..RunLength];
        words = words[..bits];
        words.Clear();
        for (int k = 0; k < RunLength; k++)
        {
            uint v = values[k];
            int w = layout.Word[k];
            int shift = layout.Shift[k];
            words[w] |= v << shift;
            if (layout.Spills[k])
            {
                words[w + 1] |= v >> (32 - shift);
            }
        }
    }

    /// <summary>Unpacks <paramref name="bits"/> words into 32 values.</summary>
    public static void UnpackRun(ReadOnlySpan<uint> words, int bits, Span<byte> values)
    {
        var layout = Layout(bits);
        words = words[..bits];
        values = values[..RunLength];
        uint mask = (1u << bits) - 1;
        for (int k = 0; k < RunLength; k++)
        {
            int w = layout.Word[k];
            int shift = layout.Shift[k];
            uint v = words[w] >> shift;
            if (layout.Spills[k])
            {
                v |= words[w + 1] << (32 - shift);
            }

            values[k] = (byte)(v & mask);
        }
    }

    /// <summary>
    /// Packs codes stored row-major [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] along the input
    /// dimension into qweight [in·b/32, out] (the transposed layout: packed input rows × output columns).
    /// </summary>
    public static int[] PackQWeight(ReadOnlySpan<byte> codes, int outFeatures, int inFeatures, int bits)
    {
        CheckRunMultiple(inFeatures, nameof(inFeatures));
        int runs = inFeatures / RunLength;
        var packed = new int[runs * bits * outFeatures];
        Span<uint> words = stackalloc uint[bits];
        // Run-major, output-minor: each packed row of qweight is written contiguously.
        for (int r = 0; r < runs; r++)
        {
            int rowBase = r * bits * outFeatures;
            for (int o = 0; o < outFeatures; o++)
            {
                PackRun(codes.Slice((o * inFeatures) + (r * RunLength), RunLength), bits, words);
                for (int w = 0; w < bits; w++)
                {
                    packed[rowBase + (w * outFeatures) + o] = (int)words[w];
                }
            }
        }

        return packed;
    }

    /// <summary>Inverse of <see cref="PackQWeight"/>: qweight [in·b/32, out] → codes row-major [out, in].</summary>
    public static byte[] UnpackQWeight(ReadOnlySpan<int> qweight, int outFeatures, int inFeatures, int bits)
    {
        CheckRunMultiple(inFeatures, nameof(inFeatures));
        int runs = inFeatures / RunLength;
        var codes = new byte[outFeatures * inFeatures];
        Span<uint> words = stackalloc uint[bits];
        for (int r = 0; r < runs; r++)
        {
            int rowBase = r * bits * outFeatures;
            for (int o = 0; o < outFeatures; o++)
            {
                for (int w = 0; w < bits; w++)
                {
                    words[w] = (uint)qweight[rowBase + (w * outFeatures) + o];
                }

                UnpackRun(words, bits, codes.AsSpan((o * inFeatures) + (r * RunLength), RunLength));
            }
        }

        return codes;
    }

    /// <summary>
    /// Packs a row-major [<paramref name="rows"/>, <paramref name="columns"/>] matrix of small values along its columns
    /// into [rows, columns·b/32]; this is the qzeros layout ([G, out] stored zero fields → [G, out·b/32]).
    /// </summary>
    public static int[] PackAlongColumns(ReadOnlySpan<byte> values, int rows, int columns, int bits)
    {
        CheckRunMultiple(columns, nameof(columns));
        int runs = columns / RunLength;
        int packedColumns = runs * bits;
        var packed = new int[(long)rows * packedColumns];
        Span<uint> words = stackalloc uint[bits];
        for (int g = 0; g < rows; g++)
        {
            for (int r = 0; r < runs; r++)
            {
                PackRun(values.Slice((g * columns) + (r * RunLength), RunLength), bits, words);
                for (int w = 0; w < bits; w++)
                {
                    packed[(g * packedColumns) + (r * bits) + w] = (int)words[w];
                }
            }
        }

        return packed;
    }

    /// <summary>Inverse of <see cref="PackAlongColumns"/>: [rows, columns·b/32] → [rows, columns].</summary>
    public static byte[] UnpackAlongColumns(ReadOnlySpan<int> packed, int rows, int columns, int bits)
    {
        CheckRunMultiple(columns, nameof(columns));
        int runs = columns / RunLength;
        int packedColumns = runs * bits;
        var values = new byte[(long)rows * columns];
        Span<uint> words = stackalloc uint[bits];
        for (int g = 0; g < rows; g++)
        {
            for (int r = 0; r < runs; r++)
            {
                for (int w = 0; w < bits; w++)
                {
                    words[w] = (uint)packed[(g * packedColumns) + (r * bits) + w];
                }

                UnpackRun(words, bits, values.AsSpan((g * columns) + (r * RunLength), RunLength));
            }
        }

        return values;
    }

    private static RunLayout Layout(int bits) => bits switch
    {
        2 => Layouts[0],
        3 => Layouts[1],
        4 => Layouts[2],
        8 => Layouts[3],
        _ => throw new ArgumentOutOfRangeException(nameof(bits), bits, "GPTQ packing supports 2, 3, 4 and 8 bits."),
    };

    private static void CheckRunMultiple(int length, string paramName)
    {
        if (length <= 0 || length % RunLength != 0)
        {
            ThrowHelper.ThrowArgument(paramName, $"GPTQ packing needs a positive multiple of {RunLength} values along the packed dimension, got {length}.");
        }
    }

    /// <summary>Where value k of a 32-value run sits: bits [b·k, b·k + b) of the run, i.e. word ⌊b·k/32⌋ at offset b·k mod 32.</summary>
    private sealed class RunLayout
    {
        public RunLayout(int bits)
        {
            for (int k = 0; k < RunLength; k++)
            {
                int bit = bits * k;
                Word[k] = (byte)(bit >> 5);
                Shift[k] = (byte)(bit & 31);
                Spills[k] = Shift[k] + bits > 32;
            }
        }

        public byte[] Word { get; } = new byte[RunLength];

        public byte[] Shift { get; } = new byte[RunLength];

        public bool[] Spills { get; } = new bool[RunLength];
    }
}
