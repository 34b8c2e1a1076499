using LowBitQuant.Internal;

namespace LowBitQuant.Hessian;

/// <summary>Validation, batch numbering and token counting shared by the built-in estimators.</summary>
internal abstract class HessianEstimatorBase : IHessianEstimator
{
    private bool _disposed;

    protected HessianEstimatorBase(int columns)
    {
        Columns = columns;
    }

    public abstract HessianKind Kind { get; }

    public int Columns { get; }

    public long SampleCount { get; private set; }

    /// <summary>Non-empty batches accepted or rejected so far; the next batch's 0-based index.</summary>
    public long BatchCount { get; private set; }

    public void Accumulate(ReadOnlySpan<float> activations)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (activations.IsEmpty)
        {
            return;
        }

        if (activations.Length % Columns != 0)
        {
            ThrowHelper.ThrowArgument(nameof(activations), $"A batch of {activations.Length} values is not a whole number of rows of {Columns} columns (the estimator's input channels).");
        }

        long batch = BatchCount++;
        int bad = Validation.IndexOfNonFinite(activations);
        if (bad >= 0)
        {
            ThrowHelper.ThrowArgument(nameof(activations), $"Activation batch {batch} holds a non-finite value ({activations[bad]}) at token {bad / Columns}, column {bad % Columns}; nothing from this batch was accumulated.");
        }

        AccumulateCore(activations, activations.Length / Columns);
        SampleCount += activations.Length / Columns;
    }

    public HessianEstimate Build()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (SampleCount == 0)
        {
            throw new InvalidOperationException("Cannot build a Hessian estimate before any token has been accumulated.");
        }

        return BuildCore(SampleCount);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        DisposeCore();
    }

    /// <summary>Adds a validated, finite batch of <paramref name="tokens"/> rows.</summary>
    protected abstract void AccumulateCore(ReadOnlySpan<float> activations, int tokens);

    protected abstract HessianEstimate BuildCore(long tokens);

    protected virtual void DisposeCore()
    {
    }
}
