using System.Numerics;

namespace LowBitQuant.Tests.Formats.Gptq;

/// <summary>
/// Plain GPTQ packing written from formats/gptq-checkpoint.md §2.1: 32 values form the little-endian integer
/// Σ_k v_k · 2^(b·k) (96 bits at b = 3), cut into b 32-bit words, low word first. No tables, no shifts-with-spill logic.
/// </summary>
internal static class ReferenceGptqPacking
{
    public static uint[] PackRun(IReadOnlyList<int> values, int bits)
    {
        BigInteger run = BigInteger.Zero;
        for (int k = 0; k < 32; k++)
        {
            run += new BigInteger(values[k]) * BigInteger.Pow(2, bits * k);
        }

        var words = new uint[bits];
        var mask = (BigInteger.One << 32) - 1;
        for (int w = 0; w < bits; w++)
        {
            words[w] = (uint)((run >> (32 * w)) & mask);
        }

        return words;
    }

    public static int[] UnpackRun(IReadOnlyList<uint> words, int bits)
    {
        BigInteger run = BigInteger.Zero;
        for (int w = 0; w < bits; w++)
        {
            run += new BigInteger(words[w]) << (32 * w);
        }

        var values = new int[32];
        for (int k = 0; k < 32; k++)
        {
            values[k] = (int)((run >> (bits * k)) % (1 << bits));
        }

        return values;
    }

    /// <summary>qweight[r·b + w, o] = word w of the run q[32r … 32r + 31, o], where q[i, o] = codes[o, i].</summary>
    public static int[] PackQWeight(byte[] codes, int outFeatures, int inFeatures, int bits)
    {
        int packedRows = inFeatures / 32 * bits;
        var qweight = new int[packedRows * outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int r = 0; r < inFeatures / 32; r++)
            {
                var run = new int[32];
                for (int k = 0; k < 32; k++)
                {
                    run[k] = codes[(o * inFeatures) + (32 * r) + k];
                }

                var words = PackRun(run, bits);
                for (int w = 0; w < bits; w++)
                {
                    qweight[(((r * bits) + w) * outFeatures) + o] = unchecked((int)words[w]);
                }
            }
        }

        return qweight;
    }

    /// <summary>packed[g, r·b + w] = word w of the run values[g, 32r … 32r + 31].</summary>
    public static int[] PackAlongColumns(int[] values, int rows, int columns, int bits)
    {
        int packedColumns = columns / 32 * bits;
        var packed = new int[rows * packedColumns];
        for (int g = 0; g < rows; g++)
        {
            for (int r = 0; r < columns / 32; r++)
            {
                var words = PackRun(values.AsSpan((g * columns) + (32 * r), 32).ToArray(), bits);
                for (int w = 0; w < bits; w++)
                {
                    packed[(g * packedColumns) + (r * bits) + w] = unchecked((int)words[w]);
                }
            }
        }

        return packed;
    }
}
