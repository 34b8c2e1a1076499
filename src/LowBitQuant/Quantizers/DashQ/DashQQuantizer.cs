using System.Globalization;
using LowBitQuant.Internal;
using LowBitQuant.Quantizers;

namespace LowBitQuant;

/// <summary>
/// DASH-Q: weight-only quantization by diagonal-Hessian weighted least squares per (row, group), with closed-form updates of
/// scale and zero point (Kim et al., arXiv 2604.13806).
/// </summary>
/// <remarks>
/// <para>
/// Objective per row and group G, with h the Hessian diagonal (h_j = mean of x_j² over the calibration tokens) and
/// p_j = h_j / Σ_G h: min over s &gt; 0, m and q_j ∈ {0..2^b − 1} of Σ_{j∈G} p_j (w_j − s q_j − m)² + λ s², where m = −s·z, so
/// ŵ = s·(q − z). Off-diagonal curvature is ignored, so rows and groups are independent.
/// </para>
/// <para>
/// Start from min–max (s = (max − min)/Q_max, m = min), or the best of <see cref="DashQOptions.RangeCandidates"/>; then
/// <see cref="DashQOptions.Iterations"/> times: q = clamp(round((w − m)/s)); s* = Cov_p(w, q)/(Var_p(q) + λ), m* = w̄ − s* q̄;
/// (s, m) ← α(s*, m*) + (1 − α)(s, m). Both steps and the damping never increase the objective. Finally round (s, z) to float16
/// and recompute the codes for the stored values (algorithms/dashq.md §4.2).
/// </para>
/// <para>
/// Dead channels: h'_j = h_j + 1e-4·mean(h), and a group whose weights sum to 0 uses uniform weights (plain least squares).
/// Constant groups are stored exactly. A full Hessian is accepted and only its diagonal is used. A partial last group
/// (columns not divisible by the group size) is solved on its own columns.
/// </para>
/// <para>
/// Given a <see cref="ComputeContext"/> on a CUDA or OpenCL GPU, the whole layer is solved there, one thread per (row, group), with the
/// same float32 operations in the same order as the CPU solver, for a bit-identical result (docs/gpu.md); otherwise the CPU solver runs.
/// </para>
/// </remarks>
public sealed class DashQQuantizer : IQuantizer
{
    /// <summary>Creates the quantizer.</summary>
    /// <param name="options">The settings.</param>
    public DashQQuantizer(DashQOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
    }

    /// <summary>The settings.</summary>
    public DashQOptions Options { get; }

    /// <inheritdoc/>
    public QuantizationScheme Scheme => Options.Scheme;

    /// <inheritdoc/>
    public HessianKind RequiredHessian => HessianKind.Diagonal;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">
    /// The weights are empty or not finite; the Hessian is missing, of a size other than the weight's columns, or has a NaN, infinite or
    /// negative diagonal entry (negative float noise within 1e-6·max(h) of a full Hessian is treated as 0).
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default)
    {
        QuantizerInputs.Validate(weights, hessian, RequiredHessian, "DASH-Q");
        var diagonal = ValidatedDiagonal(hessian!);
        var gpu = compute is { RunsOnGpu: true } ? compute.GpuKernels : null;
        var result = gpu is null
            ? DashQSolver.Solve(weights.Data, weights.Rows, weights.Columns, diagonal, Options, cancellationToken)
            : DashQGpuSolver.Solve(gpu, weights.Data, weights.Rows, weights.Columns, diagonal, Options, cancellationToken);

        var notes = new List<string>();
        if (gpu is not null)
        {
            notes.Add($"solved on {compute!.DeviceName}");
        }

        if (hessian!.Kind == HessianKind.Full)
        {
            notes.Add("full Hessian given: only its diagonal is used");
        }

        long solves = (long)weights.Rows * Scheme.GroupCount(weights.Columns);
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"mean iterations per group {(double)result.IterationsRun / solves:0.##} of {Options.Iterations}"));
        if (result.DeadChannels > 0)
        {
            notes.Add($"{result.DeadChannels} dead input channel(s) (h = 0) weighted by the floor 1e-4·mean(h)");
        }

        if (result.UniformGroups > 0)
        {
            notes.Add($"{result.UniformGroups} column group(s) without curvature fitted with uniform weights");
        }

        if (result.ConstantGroups > 0)
        {
            notes.Add($"{result.ConstantGroups} constant group(s) stored exactly");
        }

        if (Options.IntegerZeroPoint)
        {
            notes.Add("integer zero points (zero rounded, scale refitted)");
        }

        if (Options.RangeCandidates > 0)
        {
            notes.Add($"range search over {Options.RangeCandidates} candidates");
        }

        if (result.UnroundedParameters > 0)
        {
            notes.Add($"{result.UnroundedParameters} group(s) kept a float32 scale or zero that float16 cannot hold");
        }

        return new QuantizedTensor(Scheme, weights.Rows, weights.Columns, result.Codes, result.Scales, result.Zeros, diagnostics: new QuantizationDiagnostics
        {
            Method = "dashq",
            Iterations = Options.Iterations,
            Notes = notes,
        });
    }

    private static float[] ValidatedDiagonal(HessianEstimate hessian)
    {
        var h = hessian.DiagonalArray;
        ThrowHelper.ThrowIfNotFinite(h, nameof(hessian), "hessian_diag");
        float max = 0;
        foreach (float v in h)
        {
            max = MathF.Max(max, v);
        }

        float tolerance = hessian.Kind == HessianKind.Full ? (float)(DashQSolver.NegativeNoiseTolerance * max) : 0f;
        for (int j = 0; j < h.Length; j++)
        {
            if (h[j] < -tolerance)
            {
                ThrowHelper.ThrowArgument(nameof(hessian), $"Hessian diagonal entry [{j}] is negative ({h[j]}); DASH-Q weights each input channel by its mean square, which cannot be negative.");
            }
        }

        return h;
    }
}
