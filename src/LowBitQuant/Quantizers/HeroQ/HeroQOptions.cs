namespace LowBitQuant;

/// <summary>Settings of <see cref="HeroQQuantizer"/> (algorithms/heroq.md §4 and §6).</summary>
public sealed class HeroQOptions
{
    /// <summary>The default smoothing strengths searched: 0, 0.1, …, 1.0.</summary>
    public static IReadOnlyList<double> DefaultAlphas { get; } = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();

    /// <summary>Smoothing strengths α searched, d_j = h_j^(α/2) normalised to geometric mean 1. Each must be finite.</summary>
    public IReadOnlyList<double> Alphas { get; init; } = DefaultAlphas;

    /// <summary>Whether T includes a randomised Hadamard rotation R of the layer's input size (or the explicit <see cref="RotationFallback"/>).</summary>
    public bool UseRotation { get; init; } = true;

    /// <summary>Whether the identity candidate (the inner quantizer on W itself) competes; it makes HeRo-Q never worse than the inner quantizer on the calibration score.</summary>
    public bool IncludeIdentityCandidate { get; init; } = true;

    /// <summary>Seed of the rotation's random signs.</summary>
    public int Seed { get; init; }

    /// <summary>How D and R compose: T = D·R (scale, then rotate; natural at down_proj) or T = R·D (rotate, then scale; foldable at residual-stream inputs).</summary>
    public TransformOrder Order { get; init; } = TransformOrder.ScaleThenRotate;

    /// <summary>What to use when no Hadamard construction exists for the input size; the choice is recorded in the diagnostics.</summary>
    public RotationFallback RotationFallback { get; init; } = RotationFallback.BlockHadamard;

    /// <summary>
    /// Steps of the learned variant (algorithms/heroq.md §4 option B); 0 (the default) turns it off. When positive, log d starts
    /// from the search's winner, is optimised on the layer proxy loss with a straight-through estimator on a fixed RTN grid, and the
    /// inner quantizer then runs once more with the learned d; the learned d is kept only if its proxy loss beats the search's.
    /// Costs O(steps · rows · n²) float64 operations and 2·n² doubles of memory.
    /// </summary>
    public int LearnedSteps { get; init; }

    /// <summary>Adam step size on log d for the learned variant; positive and finite.</summary>
    public double LearningRate { get; init; } = 0.01;
}
