using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>Settings of <see cref="DashQQuantizer"/> (algorithms/dashq.md §4–§6). Values are validated here and never clamped.</summary>
public sealed class DashQOptions
{
    private readonly int _iterations = 9;
    private readonly double _damping = 0.5;
    private readonly double _ridge = 1e-2;
    private readonly int _rangeCandidates;
    private readonly double _rangeCandidateStep = 0.1;

    /// <summary>Creates options for a grid.</summary>
    /// <param name="scheme">The grid; must be asymmetric (DASH-Q fits the zero point).</param>
    /// <exception cref="ArgumentException"><paramref name="scheme"/> is symmetric.</exception>
    public DashQOptions(QuantizationScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        if (scheme.Symmetric)
        {
            ThrowHelper.ThrowArgument(nameof(scheme), "DASH-Q fits a zero point per group; a symmetric scheme (fixed zero) cannot be used.");
        }

        Scheme = scheme;
    }

    /// <summary>The grid.</summary>
    public QuantizationScheme Scheme { get; }

    /// <summary>Alternations of the code step and the regression step, T (default 9, the paper's convergence claim); 0 keeps the min–max start.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Iterations
    {
        get => _iterations;
        init
        {
            if (value < 0)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(Iterations), value, "Iterations must be 0 or more.");
            }

            _iterations = value;
        }
    }

    /// <summary>
    /// Damping α in (0, 1] (default 0.5): each regression step moves the linear parameters (scale s, offset m = −s·z) to
    /// α·(s*, m*) + (1 − α)·(s, m). 1 is plain block-coordinate descent.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside (0, 1] or not a number.</exception>
    public double Damping
    {
        get => _damping;
        init
        {
            if (!(value > 0 && value <= 1))
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(Damping), value, "Damping must be in (0, 1].");
            }

            _damping = value;
        }
    }

    /// <summary>Ridge λ ≥ 0 on the scale (default 1e-2), applied to the normalised moments: the regression minimises Σ p_j (w_j − s q_j − m)² + λ s².</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double Ridge
    {
        get => _ridge;
        init
        {
            if (!(value >= 0 && double.IsFinite(value)))
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(Ridge), value, "Ridge must be a finite value ≥ 0.");
            }

            _ridge = value;
        }
    }

    /// <summary>
    /// Stop a row early when an iteration's codes equal the previous iteration's (default <see langword="true"/>). The row then takes one
    /// undamped regression step (the exact minimiser for those codes, which further damped steps would only approach) and the final code step.
    /// </summary>
    public bool EarlyStop { get; init; } = true;

    /// <summary>
    /// Store integer zero points (GPTQ / compressed-tensors checkpoints): after the real-valued iterations the zero is rounded and clamped
    /// to [0, 2^b − 1], then the scale is refitted in closed form with the zero fixed, alternating with the code step (algorithms/dashq.md §4.1).
    /// Default <see langword="false"/>: real-valued zeros, as the DASH-Q packed format stores.
    /// </summary>
    public bool IntegerZeroPoint { get; init; }

    /// <summary>
    /// Storage-aware final pass (default <see langword="true"/>): round scale and zero to float16, what checkpoints store, before the final
    /// code step, so the codes are optimal for the stored grid (algorithms/dashq.md §4.2). A value that float16 cannot hold (0 or ±Inf after
    /// rounding) is kept in float32 and reported in the diagnostics.
    /// </summary>
    public bool RoundToFloat16 { get; init; } = true;

    /// <summary>
    /// Range candidates tried before the refinement (default 0: no search, start from min–max). Candidate k uses the scale
    /// (max − min) / (2^b − 1 + δ_k), δ_k = step · (k − (n − 1)/2), assigns codes from the group minimum, refits (s, m) in closed form,
    /// and the best objective (min–max included) becomes the start. 41 with step 0.1 is the k-quant-style search of algorithms/dashq.md §9.3.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int RangeCandidates
    {
        get => _rangeCandidates;
        init
        {
            if (value < 0)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(RangeCandidates), value, "Range candidates must be 0 or more.");
            }

            _rangeCandidates = value;
        }
    }

    /// <summary>Spacing δ of the range candidates in code units (default 0.1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive and finite.</exception>
    public double RangeCandidateStep
    {
        get => _rangeCandidateStep;
        init
        {
            if (!(value > 0 && double.IsFinite(value)))
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(RangeCandidateStep), value, "Range candidate step must be positive and finite.");
            }

            _rangeCandidateStep = value;
        }
    }
}
