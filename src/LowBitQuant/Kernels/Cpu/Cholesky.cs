namespace LowBitQuant.Kernels.Cpu;

/// <summary>
/// Float64 Cholesky factorisation and triangular inverse, blocked (panel width 128) with the trailing updates done by the
/// SIMD GEMM kernel; used by GPTQ for the upper factor of H⁻¹.
/// </summary>
/// <remarks>
/// A pivot counts as failed when it is not finite or not above <see cref="PivotTolerance"/> times its diagonal entry: the
/// Hessians come from float32 data, so a Schur pivot that small is indistinguishable from 0 (rank-deficient H).
/// </remarks>
internal static class Cholesky
{
    /// <summary>Relative pivot tolerance: 32 float32 ulps of the diagonal entry.</summary>
    public const double PivotTolerance = 32 * 1.1920928955078125e-7;

    private const int PanelWidth = 128;

    /// <summary>
    /// Factors the symmetric positive definite n × n matrix <paramref name="a"/> (row-major, lower triangle read) in place
    /// into its lower Cholesky factor L (A = L·Lᵀ); the strict upper triangle is set to 0.
    /// </summary>
    /// <returns>−1 on success, otherwise the index of the first failed pivot (the matrix is then partly overwritten).</returns>
    public static int Factor(double[] a, int n)
    {
        var diag = new double[n];
        for (int i = 0; i < n; i++)
        {
            diag[i] = a[(i * n) + i];
        }

        var panelT = new double[PanelWidth * n];
        var panel = new double[PanelWidth * n];
        var diagBlock = new double[PanelWidth * PanelWidth];
        var x11 = new double[PanelWidth * PanelWidth];
        var negX11T = new double[PanelWidth * PanelWidth];
        for (int k0 = 0; k0 < n; k0 += PanelWidth)
        {
            int k1 = Math.Min(k0 + PanelWidth, n), nb = k1 - k0;

            // 1. Diagonal block, unblocked (left-looking within the block; dot products of contiguous rows).
            for (int j = k0; j < k1; j++)
            {
                var rowJ = a.AsSpan((j * n) + k0, j - k0);
                double s = a[(j * n) + j] - Dot(rowJ, rowJ);
                if (!(s > PivotTolerance * Math.Abs(diag[j])) || !double.IsFinite(s))
                {
                    return j;
                }

                double d = Math.Sqrt(s);
                a[(j * n) + j] = d;
                for (int i = j + 1; i < k1; i++)
                {
                    a[(i * n) + j] = (a[(i * n) + j] - Dot(a.AsSpan((i * n) + k0, j - k0), rowJ)) / d;
                }
            }

            if (k1 == n)
            {
                break;
            }

            // 2. Panel below the block: L21 = A21·L11⁻ᵀ, as one GEMM with the inverted diagonal block (C −= A21·(−X11ᵀ)).
            int rest = n - k1;
            var l11 = diagBlock.AsSpan(0, nb * nb);
            for (int i = 0; i < nb; i++)
            {
                a.AsSpan(((k0 + i) * n) + k0, nb).CopyTo(l11.Slice(i * nb, nb));
            }

            InvertLower(l11, x11, nb);
            for (int p = 0; p < nb; p++)
            {
                for (int j = 0; j < nb; j++)
                {
                    negX11T[(p * nb) + j] = -x11[(j * nb) + p];
                }
            }

            for (int i = 0; i < rest; i++)
            {
                var src = a.AsSpan(((k1 + i) * n) + k0, nb);
                src.CopyTo(panel.AsSpan(i * nb, nb));
                src.Clear();
            }

            CpuKernels.MultiplySubtract(panel.AsSpan(0, rest * nb), nb, negX11T.AsSpan(0, nb * nb), nb, a.AsSpan((k1 * n) + k0), n, rest, nb, nb);

            // 3. Trailing update of the lower triangle: A22 −= P·Pᵀ, P = A[k1:, k0:k1], with Pᵀ packed for the GEMM.
            for (int i = 0; i < rest; i++)
            {
                int src = ((k1 + i) * n) + k0;
                for (int p = 0; p < nb; p++)
                {
                    panelT[(p * rest) + i] = a[src + p];
                }
            }

            CpuKernels.MultiplySubtract(a.AsSpan((k1 * n) + k0), n, panelT.AsSpan(0, nb * rest), rest, a.AsSpan((k1 * n) + k1), n, rest, rest, nb, GemmShape.LowerC);
        }

        for (int i = 0; i < n; i++)
        {
            a.AsSpan((i * n) + i + 1, n - i - 1).Clear();
        }

        return -1;
    }

    /// <summary>Inverts the lower-triangular n × n matrix <paramref name="l"/> (row-major) into <paramref name="inverse"/> (lower, upper part 0).</summary>
    public static void InvertLower(ReadOnlySpan<double> l, Span<double> inverse, int n)
    {
        inverse[..(n * n)].Clear();
        var t = new double[PanelWidth * n];
        var negDiag = new double[PanelWidth * PanelWidth];
        for (int i0 = 0; i0 < n; i0 += PanelWidth)
        {
            int i1 = Math.Min(i0 + PanelWidth, n), nb = i1 - i0;

            // Diagonal block: X_II = L_II⁻¹ by forward substitution, row by row: x_i = (e_i − Σ_{p<i} L_ip·x_p) / L_ii
            // (axpy over contiguous rows of X).
            for (int i = i0; i < i1; i++)
            {
                var xi = inverse.Slice((i * n) + i0, i - i0 + 1);
                for (int p = i0; p < i; p++)
                {
                    double lip = l[(i * n) + p];
                    if (lip != 0)
                    {
                        var xp = inverse.Slice((p * n) + i0, p - i0 + 1);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(xp, -lip, xi[..xp.Length], xi[..xp.Length]);
                    }
                }

                xi[^1] = 1;
                System.Numerics.Tensors.TensorPrimitives.Divide(xi, l[(i * n) + i], xi);
            }

            if (i0 == 0)
            {
                continue;
            }

            // Off-diagonal block row: X[I, :I0] = −X_II · (L[I, :I0] · X[:I0, :I0]).
            var tSpan = t.AsSpan(0, nb * i0);
            tSpan.Clear();
            CpuKernels.MultiplySubtract(l[(i0 * n)..], n, inverse, n, tSpan, i0, nb, i0, i0, GemmShape.LowerTriangularB); // T = −L·X
            for (int i = 0; i < nb; i++)
            {
                for (int p = 0; p < nb; p++)
                {
                    negDiag[(i * nb) + p] = -inverse[((i0 + i) * n) + i0 + p];
                }
            }

            // X[I, :I0] −= (−X_II)·T, i.e. X[I, :I0] = X_II·T.
            CpuKernels.MultiplySubtract(negDiag.AsSpan(0, nb * nb), nb, tSpan, i0, inverse[(i0 * n)..], n, nb, i0, nb);
        }
    }

    /// <summary>
    /// The upper-triangular factor U of H⁻¹ (H⁻¹ = UᵀU) by the reversed single-Cholesky route (algorithms/gptq.md §3 step 5):
    /// with J the reversal, J·H·J = L̃·L̃ᵀ and U = J·L̃⁻¹·J.
    /// </summary>
    /// <param name="h">The symmetric n × n matrix (row-major); not modified.</param>
    /// <param name="n">Size.</param>
    /// <param name="u">Receives U (row-major, lower part 0).</param>
    /// <param name="shift">Added to every diagonal entry first (the damping λ).</param>
    /// <returns>−1 on success, otherwise the failed pivot index in the reversed order.</returns>
    public static int InverseUpperFactor(ReadOnlySpan<double> h, int n, Span<double> u, double shift = 0)
    {
        var rev = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            int src = (n - 1 - i) * n;
            for (int j = 0; j < n; j++)
            {
                rev[(i * n) + j] = h[src + (n - 1 - j)];
            }

            rev[(i * n) + i] += shift;
        }

        int failed = Factor(rev, n);
        if (failed >= 0)
        {
            return failed;
        }

        InvertLower(rev, u, n);

        // U = J·X·J: reverse rows and columns in place (element (i, j) swaps with (n−1−i, n−1−j)).
        long total = (long)n * n;
        for (long idx = 0; idx < total / 2; idx++)
        {
            (u[(int)idx], u[(int)(total - 1 - idx)]) = (u[(int)(total - 1 - idx)], u[(int)idx]);
        }

        return -1;
    }

    private static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y) =>
        x.Length == 0 ? 0 : System.Numerics.Tensors.TensorPrimitives.Dot(x, y);
}
