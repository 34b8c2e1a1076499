namespace LowBitQuant;

/// <summary>
/// Accumulates second-order statistics of one layer's inputs, batch by batch, then resolves them into a
/// <see cref="HessianEstimate"/> (the <c>add_batch</c> → <c>fasterquant</c> lifecycle). May hold device memory: dispose it.
/// </summary>
public interface IHessianEstimator : IDisposable
{
    /// <summary>Diagonal or full.</summary>
    HessianKind Kind { get; }

    /// <summary>Input channels of the layer.</summary>
    int Columns { get; }

    /// <summary>Tokens (rows) accumulated so far.</summary>
    long SampleCount { get; }

    /// <summary>Adds a batch of activations: tokens × <see cref="Columns"/>, row-major. An empty batch is a no-op.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Columns"/>, or a value is NaN or ±Inf (nothing is accumulated then).</exception>
    void Accumulate(ReadOnlySpan<float> activations);

    /// <summary>A point-in-time estimate normalised by the token count; accumulation may continue afterwards.</summary>
    /// <exception cref="InvalidOperationException">No token has been accumulated.</exception>
    HessianEstimate Build();
}
