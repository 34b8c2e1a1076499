using LowBitQuant.Hessian;
using LowBitQuant.Internal;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant;

/// <summary>
/// How stable a layer's Hessian estimate is as calibration grows: whether the calibration set is large enough for a full-Hessian
/// method (GPTQ) or calls for a diagonal one (DASH-Q).
/// </summary>
public static class HessianDiagnostics
{
    /// <summary>Power-iteration steps for each eigenvalue.</summary>
    private const int PowerIterations = 200;

    /// <summary>
    /// Analyses calibration inputs split into sequences of <paramref name="sequenceLength"/> tokens.
    /// </summary>
    /// <param name="inputs">tokens × channels activations of one layer; finite.</param>
    /// <param name="sequenceLength">Tokens per sequence; must divide the token count, and at least two sequences are needed.</param>
    /// <param name="cancellationToken">Cancels between sequences and iterations.</param>
    /// <returns>Stability curve, per-sequence SNR distributions, dead channels and an eigenvalue range of H = XᵀX / tokens.</returns>
    /// <remarks>
    /// Stability: for k = 1, 2, 4, … sequences, the relative ℓ1 error of diag(H_k) and of the off-diagonal of H_k against H from every sequence.
    /// SNR: for each entry, |mean| / std of the per-sequence estimates H_s = X_sᵀX_s / L (population std over sequences).
    /// DASH-Q (diagonal-Hessian quantization) argues that with little calibration data the diagonal is reliable (high SNR) while the
    /// off-diagonal is mostly noise (SNR below 1); this report measures exactly that for the user's data.
    /// Costs one full XᵀX pass plus O(channels²) memory (three float64 n × n arrays).
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="inputs"/> holds NaN or ±Inf, or has no channel.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequenceLength"/> is not positive, does not divide the token count, or leaves fewer than two sequences.</exception>
    public static HessianReport Analyze(DenseMatrix inputs, int sequenceLength, CancellationToken cancellationToken = default)
    {
        int n = inputs.Columns;
        int tokens = inputs.Rows;
        if (n <= 0)
        {
            ThrowHelper.ThrowArgument(nameof(inputs), "Inputs must have at least one channel.");
        }

        if (sequenceLength <= 0 || tokens % sequenceLength != 0 || tokens / sequenceLength < 2)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(sequenceLength), sequenceLength, $"The sequence length must be positive, divide the {tokens} tokens, and leave at least two sequences.");
        }

        var x = inputs.Data.Span;
        ThrowHelper.ThrowIfNotFinite(x, nameof(inputs), "inputs", n);
        int sequences = tokens / sequenceLength;

        // Running sums: the cumulative Gram (for H_k), and per-sequence estimate moments (for SNR).
        long nn = (long)n * n;
        var cumulative = new PackedGramAccumulator(n);
        var seqMean = new double[nn];
        var seqSquare = new double[nn];
        var snapshots = new List<(int Sequences, double[] Upper)>();
        int nextSnapshot = 1;
        for (int s = 0; s < sequences; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rows = x.Slice(s * sequenceLength * n, sequenceLength * n);
            var one = new PackedGramAccumulator(n);
            CpuKernels.AccumulateGram(rows, one);
            cumulative.Add(one);
            for (int i = 0; i < n; i++)
            {
                for (int j = i; j < n; j++)
                {
                    double v = one.Get(i, j) / sequenceLength;
                    seqMean[(i * n) + j] += v;
                    seqSquare[(i * n) + j] += v * v;
                }
            }

            if (s + 1 == nextSnapshot && s + 1 < sequences)
            {
                snapshots.Add((s + 1, Upper(cumulative, (s + 1) * (long)sequenceLength)));
                nextSnapshot *= 2;
            }
        }

        var full = Upper(cumulative, tokens);
        var stability = new List<HessianStabilityPoint>();
        foreach (var (k, h) in snapshots)
        {
            stability.Add(Compare(k, (long)k * sequenceLength, h, full, n));
        }

        stability.Add(new HessianStabilityPoint(sequences, tokens, 0, n > 1 ? 0 : double.NaN));

        var diagSnr = new List<double>(n);
        var offSnr = new List<double>(n * (n - 1) / 2);
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                double mean = seqMean[(i * n) + j] / sequences;
                double variance = Math.Max(0, (seqSquare[(i * n) + j] / sequences) - (mean * mean));
                double std = Math.Sqrt(variance);
                double snr = std > 1e-12 * Math.Abs(mean) && std > 0 ? Math.Abs(mean) / std : (mean == 0 ? 0 : double.PositiveInfinity);
                (i == j ? diagSnr : offSnr).Add(snr);
            }
        }

        int dead = 0;
        for (int j = 0; j < n; j++)
        {
            if (full[(j * n) + j] == 0)
            {
                dead++;
            }
        }

        var (largest, smallest) = EigenvalueRange(full, n, cancellationToken);
        return new HessianReport(n, tokens, sequences, sequenceLength, stability, Summarize(diagSnr), Summarize(offSnr), dead, largest, smallest);
    }

    /// <summary>λ_max by power iteration on the symmetric matrix (upper triangle of <paramref name="h"/> used), λ_min by power iteration on λ_max·I − H.</summary>
    internal static (double Largest, double Smallest) EigenvalueRange(double[] h, int n, CancellationToken cancellationToken = default)
    {
        double largest = PowerIteration(h, n, shift: 0, cancellationToken);
        if (largest <= 0)
        {
            return (largest, largest);
        }

        double shifted = PowerIteration(h, n, shift: largest, cancellationToken);
        return (largest, largest - shifted);
    }

    /// <summary>Dominant eigenvalue of shift·I − H (shift = 0: of H, whose eigenvalues are ≥ 0) with a fixed, deterministic start vector.</summary>
    private static double PowerIteration(double[] h, int n, double shift, CancellationToken cancellationToken)
    {
        var v = new double[n];
        var w = new double[n];
        var rng = new Random(12345);
        for (int i = 0; i < n; i++)
        {
            v[i] = 0.5 + rng.NextDouble();
        }

        Normalize(v);
        double lambda = 0;
        for (int iteration = 0; iteration < PowerIterations; iteration++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            MultiplySymmetric(h, n, v, w);
            for (int i = 0; i < n; i++)
            {
                w[i] = shift == 0 ? w[i] : (shift * v[i]) - w[i];
            }

            double next = Dot(v, w);
            double norm = Normalize(w);
            (v, w) = (w, v);
            if (norm == 0)
            {
                return 0;
            }

            if (iteration > 10 && Math.Abs(next - lambda) <= 1e-12 * Math.Abs(next))
            {
                return next;
            }

            lambda = next;
        }

        return lambda;
    }

    private static void MultiplySymmetric(double[] h, int n, double[] v, double[] result)
    {
        for (int i = 0; i < n; i++)
        {
            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                sum += (i <= j ? h[(i * n) + j] : h[(j * n) + i]) * v[j];
            }

            result[i] = sum;
        }
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += a[i] * b[i];
        }

        return s;
    }

    private static double Normalize(double[] v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        if (norm > 0)
        {
            for (int i = 0; i < v.Length; i++)
            {
                v[i] /= norm;
            }
        }

        return norm;
    }

    /// <summary>The upper triangle of XᵀX / tokens as a dense row-major n × n array (lower part zero).</summary>
    private static double[] Upper(PackedGramAccumulator accumulator, long tokens)
    {
        int n = accumulator.Columns;
        var h = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                h[(i * n) + j] = accumulator.Get(i, j) / tokens;
            }
        }

        return h;
    }

    private static HessianStabilityPoint Compare(int sequences, long tokens, double[] h, double[] full, int n)
    {
        double diagErr = 0, diagRef = 0, offErr = 0, offRef = 0;
        for (int i = 0; i < n; i++)
        {
            diagErr += Math.Abs(h[(i * n) + i] - full[(i * n) + i]);
            diagRef += Math.Abs(full[(i * n) + i]);
            for (int j = i + 1; j < n; j++)
            {
                offErr += Math.Abs(h[(i * n) + j] - full[(i * n) + j]);
                offRef += Math.Abs(full[(i * n) + j]);
            }
        }

        return new HessianStabilityPoint(sequences, tokens, diagRef > 0 ? diagErr / diagRef : 0, n > 1 ? (offRef > 0 ? offErr / offRef : 0) : double.NaN);
    }

    private static SignalToNoiseSummary Summarize(List<double> values)
    {
        if (values.Count == 0)
        {
            return new SignalToNoiseSummary(0, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        values.Sort();
        double Quantile(double q) => values[(int)Math.Min(values.Count - 1, Math.Floor(q * (values.Count - 1) + 0.5))];
        long below = values.Count(v => v < 1);
        return new SignalToNoiseSummary(values.Count, Quantile(0.1), Quantile(0.5), Quantile(0.9), (double)below / values.Count);
    }
}
