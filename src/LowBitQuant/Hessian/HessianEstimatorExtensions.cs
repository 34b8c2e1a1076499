using System.Buffers;
using System.Numerics.Tensors;

namespace LowBitQuant;

/// <summary>Half and bfloat16 inputs for any <see cref="IHessianEstimator"/>: the batch is widened to float32 exactly, then accumulated as one batch.</summary>
public static class HessianEstimatorExtensions
{
    /// <summary>Adds a batch of IEEE half-precision activations (tokens × Columns, row-major).</summary>
    /// <param name="estimator">The estimator.</param>
    /// <param name="activations">The batch; every half value is exactly representable in float32.</param>
    /// <exception cref="ArgumentNullException"><paramref name="estimator"/> is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="IHessianEstimator.Accumulate"/>.</exception>
    public static void Accumulate(this IHessianEstimator estimator, ReadOnlySpan<Half> activations)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        float[] buffer = ArrayPool<float>.Shared.Rent(activations.Length);
        try
        {
            var span = buffer.AsSpan(0, activations.Length);
            TensorPrimitives.ConvertToSingle(activations, span);
            estimator.Accumulate(span);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Adds a batch of bfloat16 activations given as their raw 16-bit patterns (the upper half of a float32;
    /// .NET has no BFloat16 type), tokens × Columns, row-major.
    /// </summary>
    /// <param name="estimator">The estimator.</param>
    /// <param name="bfloat16Bits">The batch; value = BitConverter.Int32BitsToSingle(bits &lt;&lt; 16), exact.</param>
    /// <exception cref="ArgumentNullException"><paramref name="estimator"/> is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="IHessianEstimator.Accumulate"/> (the parameter is named <c>activations</c>).</exception>
    public static void AccumulateBFloat16(this IHessianEstimator estimator, ReadOnlySpan<ushort> bfloat16Bits)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        float[] buffer = ArrayPool<float>.Shared.Rent(bfloat16Bits.Length);
        try
        {
            var span = buffer.AsSpan(0, bfloat16Bits.Length);
            BFloat16ToSingle(bfloat16Bits, span);
            estimator.Accumulate(span);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    internal static void BFloat16ToSingle(ReadOnlySpan<ushort> bits, Span<float> destination)
    {
        for (int i = 0; i < bits.Length; i++)
        {
            destination[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
        }
    }
}
