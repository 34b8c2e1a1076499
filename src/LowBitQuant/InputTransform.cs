using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// An invertible change of basis T of a layer's input channels, composed of a diagonal scaling D = diag(d)
/// and an optional orthogonal rotation R. Weights are quantized as W' = W·T and activations become x' = T⁻¹·x,
/// so W'·x' = W·x.
/// </summary>
public sealed class InputTransform
{
    private readonly float[] _scales;

    /// <summary>Creates a transform.</summary>
    /// <param name="channelScales">d, one positive finite scale per channel; empty for D = I.</param>
    /// <param name="rotation">R, or <see langword="null"/> for R = I.</param>
    /// <param name="order">How D and R compose.</param>
    /// <exception cref="ArgumentException">A scale is not positive and finite, the sizes disagree, or both parts are identities.</exception>
    public InputTransform(ReadOnlySpan<float> channelScales, IRotation? rotation, TransformOrder order = TransformOrder.ScaleThenRotate)
    {
        if (channelScales.IsEmpty && rotation is null)
        {
            ThrowHelper.ThrowArgument(nameof(channelScales), "An input transform needs channel scales, a rotation or both.");
        }

        for (int j = 0; j < channelScales.Length; j++)
        {
            if (!(channelScales[j] > 0 && float.IsFinite(channelScales[j])))
            {
                ThrowHelper.ThrowArgument(nameof(channelScales), $"Channel scale [{j}] is {channelScales[j]}; scales must be positive and finite.");
            }
        }

        if (rotation is not null && !channelScales.IsEmpty && rotation.Size != channelScales.Length)
        {
            ThrowHelper.ThrowArgument(nameof(rotation), $"Rotation of size {rotation.Size} does not match {channelScales.Length} channel scales.");
        }

        _scales = channelScales.ToArray();
        Rotation = rotation;
        Order = order;
        Size = rotation?.Size ?? _scales.Length;
    }

    /// <summary>Channels n.</summary>
    public int Size { get; }

    /// <summary>d (D = diag(d)); empty when D = I.</summary>
    public ReadOnlyMemory<float> ChannelScales => _scales;

    /// <summary>R, or <see langword="null"/> when R = I.</summary>
    public IRotation? Rotation { get; }

    /// <summary>How D and R compose.</summary>
    public TransformOrder Order { get; }

    /// <summary>Maps weight rows into the transformed basis: w ← w·T.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Size"/>.</exception>
    public void TransformWeights(Span<float> rows)
    {
        CheckRows(rows, nameof(rows));
        if (Order == TransformOrder.ScaleThenRotate)
        {
            Scale(rows, divide: false);
            Rotation?.Apply(rows);
        }
        else
        {
            Rotation?.Apply(rows);
            Scale(rows, divide: false);
        }
    }

    /// <summary>Maps weight rows back to the original basis: w ← w·T⁻¹.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Size"/>.</exception>
    public void RestoreWeights(Span<float> rows)
    {
        CheckRows(rows, nameof(rows));
        if (Order == TransformOrder.ScaleThenRotate)
        {
            Rotation?.ApplyTranspose(rows);
            Scale(rows, divide: true);
        }
        else
        {
            Scale(rows, divide: true);
            Rotation?.ApplyTranspose(rows);
        }
    }

    /// <summary>Maps activation rows (tokens × n) into the transformed basis: xᵀ ← xᵀ·T⁻ᵀ, i.e. x' = T⁻¹·x.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Size"/>.</exception>
    public void TransformActivations(Span<float> rows)
    {
        CheckRows(rows, nameof(rows));

        // T⁻ᵀ = D⁻¹·R for T = D·R, and R·D⁻¹ for T = R·D (R orthogonal, D diagonal).
        if (Order == TransformOrder.ScaleThenRotate)
        {
            Scale(rows, divide: true);
            Rotation?.Apply(rows);
        }
        else
        {
            Rotation?.Apply(rows);
            Scale(rows, divide: true);
        }
    }

    private void Scale(Span<float> rows, bool divide)
    {
        if (_scales.Length == 0)
        {
            return;
        }

        for (int start = 0; start < rows.Length; start += Size)
        {
            var row = rows.Slice(start, Size);
            if (divide)
            {
                System.Numerics.Tensors.TensorPrimitives.Divide(row, _scales, row);
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, _scales, row);
            }
        }
    }

    private void CheckRows(Span<float> rows, string paramName)
    {
        if (rows.Length % Size != 0)
        {
            ThrowHelper.ThrowArgument(paramName, $"Length {rows.Length} is not a multiple of the transform size {Size}.");
        }
    }
}
