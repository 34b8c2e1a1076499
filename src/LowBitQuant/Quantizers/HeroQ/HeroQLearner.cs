using System.Numerics.Tensors;

namespace LowBitQuant.Quantizers;

/// <summary>
/// The learned variant of HeRo-Q (algorithms/heroq.md §4 option B, our reconstruction): optimises u = log d of the diagonal
/// smoothing in T = D·R (or R·D) on the layer proxy loss L(u) = tr(ΔW·H·ΔWᵀ), ΔW = Q(W·T)·T⁻¹ − W, where Q rounds to a grid
/// fitted once (min–max per group, as RTN does) on the starting W·T and then held fixed. The gradient is derived by hand with a
/// straight-through estimator: ∂round/∂x = 1, while a clamped entry keeps its true derivative 0 (clamping is what stops a
/// channel from growing without bound on a fixed grid). geomean(d) = 1 is kept by projecting the gradient and u onto mean 0.
/// </summary>
/// <remarks>
/// Everything is computed in float64 with R as a dense matrix (n² doubles), three n×n products per row and step:
/// O(steps · m · n²). It is a fidelity option, not the default path.
/// Gradient, with G = ΔW·H, M the unclamped mask and Q the rounded weights in the transformed basis:
/// T = D·R: g_j = 2 Σ_i [W_ij·d_j·((M ⊙ ((G/d)·R))·Rᵀ)_ij − Ŵ_ij·G_ij];
/// T = R·D: g_j = 2 Σ_i (G·R)_ij·[M_ij·(W·R)_ij − Q_ij / d_j].
/// </remarks>
internal sealed class HeroQLearner
{
    private readonly double[] _w;      // m×n
    private readonly double[] _wr;     // W·R (rotate-then-scale only)
    private readonly double[] _h;      // n×n, symmetric
    private readonly double[]? _r;     // R rows (x·Rᵀ: y_l = x·R_l)
    private readonly double[]? _rt;    // Rᵀ rows (x·R: y_l = x·Rᵀ_l)
    private readonly TransformOrder _order;
    private readonly QuantizationScheme _scheme;
    private readonly int _m, _n, _groups, _width;
    private readonly double[] _scale, _zero; // fixed grid per (row, group)

    public HeroQLearner(DenseMatrix weights, HessianEstimate fullHessian, IRotation? rotation, TransformOrder order, QuantizationScheme scheme, ReadOnlySpan<double> initialLogScales)
    {
        _m = weights.Rows;
        _n = weights.Columns;
        _order = order;
        _scheme = scheme;
        _groups = scheme.GroupCount(_n);
        _width = scheme.GroupWidth(_n);
        _w = new double[_m * _n];
        var span = weights.Data.Span;
        for (int i = 0; i < _w.Length; i++)
        {
            _w[i] = span[i];
        }

        _h = new double[_n * _n];
        for (int i = 0; i < _h.Length; i++)
        {
            _h[i] = fullHessian.MatrixArray[i];
        }

        if (rotation is not null)
        {
            // Rows of I·R are the rows of R.
            var dense = new float[_n * _n];
            for (int i = 0; i < _n; i++)
            {
                dense[(i * _n) + i] = 1;
            }

            rotation.Apply(dense);
            _r = new double[_n * _n];
            _rt = new double[_n * _n];
            for (int i = 0; i < _n; i++)
            {
                for (int j = 0; j < _n; j++)
                {
                    _r[(i * _n) + j] = dense[(i * _n) + j];
                    _rt[(j * _n) + i] = dense[(i * _n) + j];
                }
            }
        }

        _wr = order == TransformOrder.RotateThenScale ? MulRows(_w, _rt) : [];

        // The fixed grid: min–max per group of W·T at the start.
        _scale = new double[_m * _groups];
        _zero = new double[_m * _groups];
        var wt = Transformed(initialLogScales);
        var row = new float[_n];
        for (int r = 0; r < _m; r++)
        {
            for (int j = 0; j < _n; j++)
            {
                row[j] = (float)wt[(r * _n) + j];
            }

            for (int g = 0; g < _groups; g++)
            {
                int start = g * _width, len = Math.Min(_width, _n - start);
                var (s, z) = AffineGrid.Fit(row.AsSpan(start, len), scheme);
                _scale[(r * _groups) + g] = s;
                _zero[(r * _groups) + g] = z;
            }
        }
    }

    /// <summary>Channels n.</summary>
    public int Size => _n;

    /// <summary>
    /// Runs <paramref name="steps"/> Adam steps (β = 0.9, 0.999) from <paramref name="initialLogScales"/>, projected to mean 0,
    /// and returns the u with the lowest fixed-grid loss seen (the start included) and that loss.
    /// </summary>
    public (double[] LogScales, double Loss, double StartLoss) Optimize(ReadOnlySpan<double> initialLogScales, int steps, double learningRate, CancellationToken ct)
    {
        var u = initialLogScales.ToArray();
        Center(u);
        var g = new double[_n];
        var m1 = new double[_n];
        var m2 = new double[_n];
        double startLoss = double.NaN, bestLoss = double.PositiveInfinity;
        var best = (double[])u.Clone();
        for (int t = 0; t <= steps; t++)
        {
            ct.ThrowIfCancellationRequested();
            double loss = LossAndGradient(u, g);
            if (t == 0)
            {
                startLoss = loss;
            }

            if (!double.IsFinite(loss))
            {
                break;
            }

            if (loss < bestLoss)
            {
                bestLoss = loss;
                Array.Copy(u, best, _n);
            }

            if (t == steps)
            {
                break;
            }

            Center(g);
            double c1 = 1 - Math.Pow(0.9, t + 1), c2 = 1 - Math.Pow(0.999, t + 1);
            for (int j = 0; j < _n; j++)
            {
                m1[j] = (0.9 * m1[j]) + (0.1 * g[j]);
                m2[j] = (0.999 * m2[j]) + (0.001 * g[j] * g[j]);
                u[j] -= learningRate * (m1[j] / c1) / (Math.Sqrt(m2[j] / c2) + 1e-12);
            }

            Center(u);
        }

        return (best, bestLoss, startLoss);
    }

    /// <summary>The rounding state at <paramref name="logScales"/>: the mask of unclamped entries and, per entry, Q − x (unclamped) or Q (clamped).</summary>
    public (bool[] Unclamped, double[] Offset) Freeze(ReadOnlySpan<double> logScales)
    {
        var wt = Transformed(logScales);
        var q = new double[wt.Length];
        var mask = new bool[wt.Length];
        Round(wt, q, mask);
        for (int i = 0; i < q.Length; i++)
        {
            q[i] = mask[i] ? q[i] - wt[i] : q[i];
        }

        return (mask, q);
    }

    /// <summary>
    /// L(u) and, when <paramref name="gradient"/> is not empty, ∂L/∂u (not projected). With <paramref name="frozen"/> the rounding is
    /// replaced by the recorded state (Q = x + offset where unclamped, Q = offset where clamped), which makes L smooth in u and the
    /// STE gradient its exact gradient.
    /// </summary>
    public double LossAndGradient(ReadOnlySpan<double> logScales, Span<double> gradient, (bool[] Unclamped, double[] Offset)? frozen = null)
    {
        int m = _m, n = _n;
        var d = new double[n];
        for (int j = 0; j < n; j++)
        {
            d[j] = Math.Exp(logScales[j]);
        }

        var wt = Transformed(logScales);
        var q = new double[wt.Length];
        bool[] mask;
        if (frozen is { } f)
        {
            mask = f.Unclamped;
            for (int i = 0; i < q.Length; i++)
            {
                q[i] = mask[i] ? wt[i] + f.Offset[i] : f.Offset[i];
            }
        }
        else
        {
            mask = new bool[q.Length];
            Round(wt, q, mask);
        }

        // Ŵ = Q·T⁻¹: T = D·R → (Q·Rᵀ)/d; T = R·D → (Q/d)·Rᵀ.
        double[] wHat;
        if (_order == TransformOrder.ScaleThenRotate)
        {
            wHat = MulRows(q, _r);
            DivideColumns(wHat, d);
        }
        else
        {
            var qd = (double[])q.Clone();
            DivideColumns(qd, d);
            wHat = MulRows(qd, _r);
        }

        var delta = new double[m * n];
        TensorPrimitives.Subtract(wHat, _w, delta);
        var gmat = MulRows(delta, _h); // ΔW·H (H symmetric)
        double loss = TensorPrimitives.Dot(delta, gmat);
        if (gradient.IsEmpty)
        {
            return loss;
        }

        gradient.Clear();
        if (_order == TransformOrder.ScaleThenRotate)
        {
            var gd = (double[])gmat.Clone();
            DivideColumns(gd, d);
            var p = MulRows(gd, _rt); // P = (G/d)·R
            for (int i = 0; i < p.Length; i++)
            {
                if (!mask[i])
                {
                    p[i] = 0;
                }
            }

            var b = MulRows(p, _r); // (M ⊙ P)·Rᵀ
            for (int r = 0; r < m; r++)
            {
                for (int j = 0; j < n; j++)
                {
                    int k = (r * n) + j;
                    gradient[j] += 2 * ((_w[k] * d[j] * b[k]) - (wHat[k] * gmat[k]));
                }
            }
        }
        else
        {
            var gr = MulRows(gmat, _rt); // G·R
            for (int r = 0; r < m; r++)
            {
                for (int j = 0; j < n; j++)
                {
                    int k = (r * n) + j;
                    gradient[j] += 2 * gr[k] * ((mask[k] ? _wr[k] : 0) - (q[k] / d[j]));
                }
            }
        }

        return loss;
    }

    private static void Center(Span<double> v)
    {
        double mean = TensorPrimitives.Sum<double>(v) / v.Length;
        for (int j = 0; j < v.Length; j++)
        {
            v[j] -= mean;
        }
    }

    private static void DivideColumns(double[] rows, double[] d)
    {
        int n = d.Length;
        for (int start = 0; start < rows.Length; start += n)
        {
            var row = rows.AsSpan(start, n);
            TensorPrimitives.Divide(row, d, row);
        }
    }

    /// <summary>W·T for u: T = D·R → (W ⊙ d)·R; T = R·D → (W·R) ⊙ d.</summary>
    private double[] Transformed(ReadOnlySpan<double> logScales)
    {
        var d = new double[_n];
        for (int j = 0; j < _n; j++)
        {
            d[j] = Math.Exp(logScales[j]);
        }

        if (_order == TransformOrder.ScaleThenRotate)
        {
            var a = (double[])_w.Clone();
            MultiplyColumns(a, d);
            return MulRows(a, _rt);
        }

        var wr = (double[])_wr.Clone();
        MultiplyColumns(wr, d);
        return wr;
    }

    private static void MultiplyColumns(double[] rows, double[] d)
    {
        int n = d.Length;
        for (int start = 0; start < rows.Length; start += n)
        {
            var row = rows.AsSpan(start, n);
            TensorPrimitives.Multiply(row, d, row);
        }
    }

    /// <summary>Rounds to the fixed grid: q = s·(clamp(round(x/s) + z, 0, maxq) − z); mask = the unclamped code lies in [0, maxq].</summary>
    private void Round(double[] x, double[] q, bool[] unclamped)
    {
        int maxq = _scheme.MaxCode;
        for (int r = 0; r < _m; r++)
        {
            for (int j = 0; j < _n; j++)
            {
                int k = (r * _n) + j, gi = (r * _groups) + (j / _width);
                double s = _scale[gi], z = _zero[gi];
                double code = Math.Round(x[k] / s, MidpointRounding.ToEven) + z;
                unclamped[k] = code >= 0 && code <= maxq;
                q[k] = s * (Math.Clamp(code, 0, maxq) - z);
            }
        }
    }

    /// <summary>dst_il = src_i · mat_l (rows of <paramref name="mat"/>); a copy when <paramref name="mat"/> is null (identity).</summary>
    private double[] MulRows(double[] src, double[]? mat)
    {
        if (mat is null)
        {
            return (double[])src.Clone();
        }

        int n = _n, rows = src.Length / n;
        var dst = new double[src.Length];
        Parallel.For(0, rows, i =>
        {
            var x = src.AsSpan(i * n, n);
            for (int l = 0; l < n; l++)
            {
                dst[(i * n) + l] = TensorPrimitives.Dot(x, mat.AsSpan(l * n, n));
            }
        });
        return dst;
    }
}
