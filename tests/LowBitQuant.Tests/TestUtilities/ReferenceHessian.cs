namespace LowBitQuant.Tests.TestUtilities;

/// <summary>Plain float64 references written from the definitions H = XᵀX / tokens and h_j = Σ_t x[t, j]² / tokens.</summary>
internal static class ReferenceHessian
{
    /// <summary>(XᵀX)[i, j] = Σ_t x[t, i]·x[t, j], triple loop in float64.</summary>
    public static double[] Gram(ReadOnlySpan<float> x, int columns)
    {
        int tokens = x.Length / columns;
        var g = new double[columns * columns];
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < columns; i++)
            {
                double xi = x[(t * columns) + i];
                for (int j = 0; j < columns; j++)
                {
                    g[(i * columns) + j] += xi * x[(t * columns) + j];
                }
            }
        }

        return g;
    }

    public static double[] SumOfSquares(ReadOnlySpan<float> x, int columns)
    {
        var s = new double[columns];
        for (int t = 0; t < x.Length / columns; t++)
        {
            for (int j = 0; j < columns; j++)
            {
                double v = x[(t * columns) + j];
                s[j] += v * v;
            }
        }

        return s;
    }

    /// <summary>Deterministic activations with per-channel scales spanning 3 orders of magnitude and a nonzero mean, like real LLM inputs.</summary>
    public static float[] Activations(int tokens, int columns, int seed)
    {
        var rng = new Random(seed);
        var x = new float[tokens * columns];
        var scale = new float[columns];
        for (int j = 0; j < columns; j++)
        {
            scale[j] = MathF.Pow(10f, (float)(rng.NextDouble() * 3) - 1.5f);
        }

        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < columns; j++)
            {
                x[(t * columns) + j] = scale[j] * (float)((rng.NextDouble() * 2) - 0.7);
            }
        }

        return x;
    }

    /// <summary>max |a − b| / max |b|: error relative to the largest reference entry.</summary>
    public static double MaxRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
            maxErr = Math.Max(maxErr, Math.Abs(actual[i] - expected[i]));
        }

        return maxRef == 0 ? maxErr : maxErr / maxRef;
    }
}
