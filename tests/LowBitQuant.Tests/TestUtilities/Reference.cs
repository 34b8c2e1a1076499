namespace LowBitQuant.Tests.TestUtilities;

/// <summary>
/// Plain references written from the equations in docs/algorithms (no SIMD, no blocking), for comparison with the fast paths.
/// </summary>
public static class Reference
{
    /// <summary>gptq.md §4: q = clamp(round(x / s) + z, 0, maxq), round half to even, for an integral z.</summary>
    public static byte Quantize(float x, float scale, float zero, int maxq)
    {
        float q = MathF.Round(x / scale, MidpointRounding.ToEven) + zero;
        return (byte)Math.Clamp(q, 0f, maxq);
    }

    /// <summary>ŵ = s · (q − z).</summary>
    public static float Dequantize(byte q, float scale, float zero) => scale * (q - zero);

    /// <summary>gptq.md §4 find_params for one group, with LowBitQuant's symmetric default and fp16 scale rounding.</summary>
    public static (float Scale, float Zero) FitMinMax(ReadOnlySpan<float> x, int bits, bool symmetric)
    {
        int maxq = (1 << bits) - 1;
        float xmin = 0, xmax = 0;
        foreach (float v in x)
        {
            xmin = Math.Min(xmin, v);
            xmax = Math.Max(xmax, v);
        }

        if (symmetric)
        {
            xmax = Math.Max(Math.Abs(xmin), xmax);
            xmin = -xmax;
        }

        if (xmin == 0 && xmax == 0)
        {
            xmin = -1;
            xmax = 1;
        }

        float scale = (float)(Half)((xmax - xmin) / maxq);
        float zero = symmetric ? 1 << (bits - 1) : Math.Clamp(MathF.Round(-xmin / scale, MidpointRounding.ToEven), 0, maxq);
        return (scale, zero);
    }

    /// <summary>Round-to-nearest of a whole matrix with groups of <paramref name="groupSize"/> columns (null = per row).</summary>
    public static float[] Rtn(float[] w, int rows, int columns, int bits, int? groupSize, bool symmetric)
    {
        int maxq = (1 << bits) - 1, g = groupSize ?? columns;
        var result = new float[w.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int start = 0; start < columns; start += g)
            {
                int len = Math.Min(g, columns - start);
                var x = w.AsSpan((r * columns) + start, len);
                var (s, z) = FitMinMax(x, bits, symmetric);
                for (int j = 0; j < len; j++)
                {
                    result[(r * columns) + start + j] = Dequantize(Quantize(x[j], s, z, maxq), s, z);
                }
            }
        }

        return result;
    }

    /// <summary>Σ_rows ΔW·H·ΔWᵀ computed from the activations directly: ‖ΔW·Xᵀ‖² / tokens, in float64.</summary>
    public static double OutputError(float[] delta, int rows, int columns, float[] x, int tokens)
    {
        double sum = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int t = 0; t < tokens; t++)
            {
                double y = 0;
                for (int j = 0; j < columns; j++)
                {
                    y += (double)delta[(r * columns) + j] * x[(t * columns) + j];
                }

                sum += y * y;
            }
        }

        return sum / tokens;
    }
}
