using LowBitQuant.Internal;

using LowBitQuant.Hessian;

namespace LowBitQuant;

/// <summary>Creates the built-in <see cref="IHessianEstimator"/> implementations; the only place they are chosen.</summary>
public static class HessianEstimator
{
    /// <summary>Creates an estimator of <paramref name="kind"/> for a layer with <paramref name="columns"/> input channels.</summary>
    /// <param name="kind"><see cref="HessianKind.Diagonal"/> (Σx² per channel) or <see cref="HessianKind.Full"/> (XᵀX).</param>
    /// <param name="columns">Input channels of the layer; positive.</param>
    /// <param name="compute">Where the full estimator's Gram kernel runs; <see cref="ComputeContext.Cpu"/> when null. The diagonal estimator always runs on the CPU (it is memory-bound).</param>
    /// <returns>An estimator to feed with <see cref="IHessianEstimator.Accumulate"/> and dispose.</returns>
    /// <remarks>
    /// Both accumulate in float64 (float32 partial sums over at most 512 tokens for the full matrix, 128 for the diagonal), so a stream of 10⁶ tokens keeps float32 accuracy.
    /// The full estimator stores only the upper triangle of XᵀX in float64: about 4·n² bytes, the size of one float32 n × n matrix.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is <see cref="HessianKind.None"/> or undefined, or <paramref name="columns"/> is not positive.</exception>
    public static IHessianEstimator Create(HessianKind kind, int columns, ComputeContext? compute = null)
    {
        if (columns <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(columns), columns, "A Hessian estimator needs at least one input channel.");
        }

        return kind switch
        {
            HessianKind.Diagonal => new DiagonalHessianEstimator(columns),
            HessianKind.Full => new FullHessianEstimator(columns, compute ?? ComputeContext.Cpu),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Only Diagonal and Full Hessians can be estimated (None needs no estimator)."),
        };
    }

    /// <summary>The estimate of one whole batch of activations (tokens × columns): create, accumulate once, build.</summary>
    internal static HessianEstimate Estimate(HessianKind kind, DenseMatrix activations, ComputeContext? compute = null)
    {
        using var estimator = Create(kind, activations.Columns, compute);
        estimator.Accumulate(activations.Data.Span);
        return estimator.Build();
    }
}
