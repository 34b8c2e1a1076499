using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Options of the clipping search of an affine grid: shrink the min–max range by p = 1, 1 − 1/steps, … and keep, per group,
/// the range with the smallest error Σ_j w_j · |ŵ_j − x_j|^norm (w_j = 1, or the Hessian diagonal h_j when one is given).
/// </summary>
/// <remarks>The defaults (100 steps, shrink to 0.2 of the range, norm 2.4) are reference GPTQ's <c>mse</c> grid.
/// p = 1 is tried first and only a strictly smaller error replaces it, so the search is never worse than min–max.</remarks>
public sealed record ClipSearch
{
    /// <summary>Creates a search.</summary>
    /// <param name="steps">Grid resolution: p moves in steps of 1/steps. At least 1.</param>
    /// <param name="maxShrink">Largest fraction removed from the range, in (0, 1).</param>
    /// <param name="norm">Exponent of the error, positive (2 matches the proxy loss with a diagonal Hessian).</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public ClipSearch(int steps = 100, double maxShrink = 0.8, double norm = 2.4)
    {
        if (steps < 1)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(steps), steps, "Steps must be at least 1.");
        }

        if (!(maxShrink > 0 && maxShrink < 1))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(maxShrink), maxShrink, "Maximum shrink must lie strictly between 0 and 1.");
        }

        if (!(norm > 0 && double.IsFinite(norm)))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(norm), norm, "Norm must be positive and finite.");
        }

        Steps = steps;
        MaxShrink = maxShrink;
        Norm = norm;
    }

    /// <summary>Grid resolution.</summary>
    public int Steps { get; }

    /// <summary>Largest fraction removed from the range.</summary>
    public double MaxShrink { get; }

    /// <summary>Exponent of the error.</summary>
    public double Norm { get; }

    /// <summary>Number of candidate ranges tried, ⌊maxShrink · steps⌋ (at least 1).</summary>
    public int CandidateCount => Math.Max(1, (int)Math.Floor(MaxShrink * Steps));
}
