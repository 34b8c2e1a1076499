namespace LowBitQuant.Tests.TestUtilities;

/// <summary>Dense Hadamard references written from the definitions in rotations.md (no FWHT, no blocking), in float64.</summary>
public static class ReferenceHadamard
{
    /// <summary>Sylvester H_{2^m}[i, j] = (−1)^popcount(i AND j) (the closed form of the recursion [[H, H], [H, −H]]).</summary>
    public static int Sylvester(int i, int j) => (System.Numerics.BitOperations.PopCount((uint)(i & j)) & 1) == 0 ? 1 : -1;

    /// <summary>(H_K ⊗ H_M)[a·M + b, a'·M + b'] = H_K[a, a']·H_M[b, b'].</summary>
    public static double[] Kronecker(ReadOnlySpan<sbyte> core, int k, int m)
    {
        int n = k * m;
        var h = new double[n * n];
        for (int a = 0; a < k; a++)
        {
            for (int b = 0; b < m; b++)
            {
                for (int a2 = 0; a2 < k; a2++)
                {
                    for (int b2 = 0; b2 < m; b2++)
                    {
                        h[(((a * m) + b) * n) + (a2 * m) + b2] = core[(a * k) + a2] * Sylvester(b, b2);
                    }
                }
            }
        }

        return h;
    }

    /// <summary>y = x·A for a row vector x and a dense n × n matrix A, in float64.</summary>
    public static double[] RowTimes(ReadOnlySpan<float> x, double[] a, int n, bool transpose = false)
    {
        var y = new double[n];
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int i = 0; i < n; i++)
            {
                s += x[i] * (transpose ? a[(j * n) + i] : a[(i * n) + j]);
            }

            y[j] = s;
        }

        return y;
    }

    /// <summary>Integer check of H·Hᵀ = K·I.</summary>
    public static bool IsHadamard(ReadOnlySpan<sbyte> h, int k)
    {
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                int s = 0;
                for (int t = 0; t < k; t++)
                {
                    s += h[(i * k) + t] * h[(j * k) + t];
                }

                if (s != (i == j ? k : 0))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
