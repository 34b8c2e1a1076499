using LowBitQuant.Internal;

namespace LowBitQuant.Formats.DashQ;

/// <summary>
/// LSB-first code packing of the DASH-Q packed format: 32 // b codes per 32-bit word, code j of a word at bits [b·j, b·j + b),
/// no code spanning two words, the last word zero-padded (formats/dashq-packed.md §3).
/// </summary>
public static class DashQPacking
{
    /// <summary>Packs row-major codes into words.</summary>
    /// <param name="codes">Codes in [0, 2^bits − 1].</param>
    /// <param name="bits">1 to 8.</param>
    /// <returns>ceil(codes / (32 // bits)) words.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is outside [1, 8].</exception>
    /// <exception cref="ArgumentException">A code does not fit in <paramref name="bits"/> bits.</exception>
    public static int[] Pack(ReadOnlySpan<byte> codes, int bits)
    {
        ValidateBits(bits);
        int perWord = 32 / bits, mask = (1 << bits) - 1;
        var words = new int[(codes.Length + perWord - 1) / perWord];
        for (int i = 0; i < codes.Length; i++)
        {
            if (codes[i] > mask)
            {
                ThrowHelper.ThrowArgument(nameof(codes), $"Code [{i}] = {codes[i]} does not fit in {bits} bits.");
            }

            words[i / perWord] |= codes[i] << (bits * (i % perWord));
        }

        return words;
    }

    /// <summary>Unpacks <paramref name="count"/> codes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is outside [1, 8].</exception>
    /// <exception cref="ArgumentException"><paramref name="words"/> holds fewer than <paramref name="count"/> codes.</exception>
    public static byte[] Unpack(ReadOnlySpan<int> words, int bits, int count)
    {
        ValidateBits(bits);
        int perWord = 32 / bits, mask = (1 << bits) - 1;
        if ((long)words.Length * perWord < count)
        {
            ThrowHelper.ThrowArgument(nameof(words), $"{words.Length} words hold {(long)words.Length * perWord} {bits}-bit codes; {count} are needed.");
        }

        var codes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            codes[i] = (byte)((uint)words[i / perWord] >> (bits * (i % perWord)) & mask);
        }

        return codes;
    }

    private static void ValidateBits(int bits)
    {
        if (bits is < 1 or > 8)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(bits), bits, "The DASH-Q packed format stores 1 to 8 bits per code.");
        }
    }
}
