namespace LowBitQuant.Tests.TestUtilities;

/// <summary>
/// GPTQ by definition (algorithms/gptq.md §1, §3–§5), float64, column by column, no blocking and no Cholesky trick: the inverse
/// Hessian of the still free columns is kept explicitly and downdated after every column (OBS):
/// e = (w_k − ŵ_k) / [H_F⁻¹]_kk, w_F −= e · [H_F⁻¹]_{k,F}, then H_F⁻¹ ← H_F⁻¹ − [H_F⁻¹]_{F,k}[H_F⁻¹]_{k,F} / [H_F⁻¹]_kk.
/// Dynamic group grids are fitted on the fully updated weights at each group start (LowBitQuant's choice, §3.1).
/// </summary>
public static class GptqReference
{
    /// <summary>Codes, grids and dequantized weights in original column order, plus the processing permutation.</summary>
    public sealed record Result(byte[] Codes, float[] Scales, float[] Zeros, int[] GroupIndex, float[] Dequantized, int[] Permutation);

    public static Result Quantize(float[] weights, int rows, int c, float[] hessian, int bits, int? groupSize, bool symmetric, GptqColumnOrder order, double damping = 0.01)
    {
        int maxq = (1 << bits) - 1, g = groupSize ?? c, groups = (c + g - 1) / g;
        bool grouped = groupSize is not null;
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        var w = (float[])weights.Clone();

        if (!grouped)
        {
            for (int r = 0; r < rows; r++)
            {
                (scales[r], zeros[r]) = Reference.FitMinMax(w.AsSpan(r * c, c), bits, symmetric);
            }
        }

        var diag = new double[c];
        for (int j = 0; j < c; j++)
        {
            diag[j] = hessian[(j * c) + j];
            if (diag[j] == 0)
            {
                diag[j] = 1;
                for (int r = 0; r < rows; r++)
                {
                    w[(r * c) + j] = 0;
                }
            }
        }

        int[] perm = Order(diag, order, g, grouped);
        bool isStatic = grouped && order == GptqColumnOrder.ActOrderStaticGroups;
        if (isStatic)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int gi = 0; gi < groups; gi++)
                {
                    (scales[(r * groups) + gi], zeros[(r * groups) + gi]) = Reference.FitMinMax(w.AsSpan((r * c) + (gi * g), Math.Min(g, c - (gi * g))), bits, symmetric);
                }
            }
        }

        int Slot(int k) => !grouped ? 0 : order is GptqColumnOrder.Natural or GptqColumnOrder.ActOrder ? k / g : perm[k] / g;

        // Permuted, damped Hessian and its inverse (Gauss–Jordan, partial pivoting).
        var hp = new double[c, c];
        double mean = diag.Average();
        for (int i = 0; i < c; i++)
        {
            for (int j = 0; j < c; j++)
            {
                hp[i, j] = i == j ? diag[perm[i]] + (damping * mean) : hessian[(perm[i] * c) + perm[j]];
            }
        }

        var hinv = Invert(hp);
        var wp = new double[rows, c];
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < c; k++)
            {
                wp[r, k] = w[(r * c) + perm[k]];
            }
        }

        var codes = new byte[rows * c];
        var dq = new float[rows * c];
        for (int k = 0; k < c; k++)
        {
            bool fit = grouped && !isStatic && (k == 0 || Slot(k) != Slot(k - 1));
            int end = k + 1;
            while (end < c && Slot(end) == Slot(k))
            {
                end++;
            }

            for (int r = 0; r < rows; r++)
            {
                int gi = (r * groups) + Slot(k);
                if (fit)
                {
                    var x = new float[end - k];
                    for (int j = k; j < end; j++)
                    {
                        x[j - k] = (float)wp[r, j];
                    }

                    (scales[gi], zeros[gi]) = Reference.FitMinMax(x, bits, symmetric);
                }

                double s = scales[gi], z = zeros[gi];
                double q = Math.Clamp(Math.Round(wp[r, k] / s, MidpointRounding.ToEven) + z, 0, maxq);
                double wq = s * (q - z);
                codes[(r * c) + perm[k]] = (byte)q;
                dq[(r * c) + perm[k]] = (float)wq;
                double e = (wp[r, k] - wq) / hinv[k, k];
                for (int j = k + 1; j < c; j++)
                {
                    wp[r, j] -= e * hinv[k, j];
                }
            }

            // OBS downdate: remove column k from the free set.
            for (int i = k + 1; i < c; i++)
            {
                double f = hinv[i, k] / hinv[k, k];
                for (int j = k + 1; j < c; j++)
                {
                    hinv[i, j] -= f * hinv[k, j];
                }
            }
        }

        int[] gidx = [];
        if (grouped && order == GptqColumnOrder.ActOrder)
        {
            gidx = new int[c];
            for (int k = 0; k < c; k++)
            {
                gidx[perm[k]] = k / g;
            }
        }

        return new Result(codes, scales, zeros, gidx, dq, perm);
    }

    /// <summary>The processing order from the spec: stable descending diag H, or group-aware (groups by max diag H, then diag H inside).</summary>
    public static int[] Order(double[] diag, GptqColumnOrder order, int g, bool grouped)
    {
        int c = diag.Length;
        var idx = Enumerable.Range(0, c).ToList();
        if (order == GptqColumnOrder.Natural)
        {
            return [.. idx];
        }

        if (order == GptqColumnOrder.GroupAware && grouped)
        {
            double Score(int j)
            {
                int g0 = j / g * g;
                double m = double.NegativeInfinity;
                for (int i = g0; i < Math.Min(g0 + g, c); i++)
                {
                    m = Math.Max(m, diag[i]);
                }

                return m;
            }

            idx.Sort((a, b) =>
            {
                int t = Score(b).CompareTo(Score(a));
                t = t != 0 ? t : (a / g).CompareTo(b / g);
                t = t != 0 ? t : diag[b].CompareTo(diag[a]);
                return t != 0 ? t : a.CompareTo(b);
            });
            return [.. idx];
        }

        idx.Sort((a, b) => diag[b] != diag[a] ? diag[b].CompareTo(diag[a]) : a.CompareTo(b));
        return [.. idx];
    }

    /// <summary>Inverse by Gauss–Jordan elimination with partial pivoting, float64.</summary>
    public static double[,] Invert(double[,] a)
    {
        int n = a.GetLength(0);
        var m = (double[,])a.Clone();
        var inv = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            inv[i, i] = 1;
        }

        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int i = col + 1; i < n; i++)
            {
                if (Math.Abs(m[i, col]) > Math.Abs(m[pivot, col]))
                {
                    pivot = i;
                }
            }

            for (int j = 0; j < n; j++)
            {
                (m[col, j], m[pivot, j]) = (m[pivot, j], m[col, j]);
                (inv[col, j], inv[pivot, j]) = (inv[pivot, j], inv[col, j]);
            }

            double d = m[col, col];
            for (int j = 0; j < n; j++)
            {
                m[col, j] /= d;
                inv[col, j] /= d;
            }

            for (int i = 0; i < n; i++)
            {
                if (i == col || m[i, col] == 0)
                {
                    continue;
                }

                double f = m[i, col];
                for (int j = 0; j < n; j++)
                {
                    m[i, j] -= f * m[col, j];
                    inv[i, j] -= f * inv[col, j];
                }
            }
        }

        return inv;
    }

    /// <summary>Plain lower Cholesky factor (A = L·Lᵀ), float64; throws when a pivot is not positive.</summary>
    public static double[,] CholeskyLower(double[,] a)
    {
        int n = a.GetLength(0);
        var l = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            double s = a[j, j];
            for (int p = 0; p < j; p++)
            {
                s -= l[j, p] * l[j, p];
            }

            if (!(s > 0))
            {
                throw new InvalidOperationException($"pivot {j} = {s}");
            }

            l[j, j] = Math.Sqrt(s);
            for (int i = j + 1; i < n; i++)
            {
                double t = a[i, j];
                for (int p = 0; p < j; p++)
                {
                    t -= l[i, p] * l[j, p];
                }

                l[i, j] = t / l[j, j];
            }
        }

        return l;
    }

    /// <summary>The reference's three-call route for U (H⁻¹ = UᵀU): Cholesky of H, the inverse from it, then an upper Cholesky.</summary>
    public static double[,] InverseUpperFactorThreeCalls(double[,] h)
    {
        int n = h.GetLength(0);
        var l = CholeskyLower(h);

        // cholesky_inverse: H⁻¹ = L⁻ᵀ·L⁻¹, with L⁻¹ by forward substitution.
        var li = new double[n, n];
        for (int col = 0; col < n; col++)
        {
            for (int i = 0; i < n; i++)
            {
                double s = i == col ? 1 : 0;
                for (int p = 0; p < i; p++)
                {
                    s -= l[i, p] * li[p, col];
                }

                li[i, col] = s / l[i, i];
            }
        }

        var hinv = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < n; p++)
                {
                    s += li[p, i] * li[p, j];
                }

                hinv[i, j] = s;
            }
        }

        // Upper Cholesky: U = Lᵀ of the lower factor of H⁻¹.
        var lh = CholeskyLower(hinv);
        var u = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                u[i, j] = lh[j, i];
            }
        }

        return u;
    }
}
