namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>Choices made when packing a <see cref="QuantizedTensor"/> into the <c>pack-quantized</c> layout.</summary>
public sealed record PackQuantizedOptions
{
    /// <summary>The defaults: F16 scales, symmetry detected from the zero points, <c>weight_g_idx</c> only when non-trivial.</summary>
    public static PackQuantizedOptions Default { get; } = new();

    /// <summary>The dtype of <c>weight_scale</c>. Defaults to <see cref="ScaleDataType.Float16"/>.</summary>
    public ScaleDataType ScaleType { get; init; } = ScaleDataType.Float16;

    /// <summary>
    /// <see langword="null"/> (default): symmetric exactly when every zero point equals 2^(b−1).
    /// <see langword="true"/>: require that, and store no zero points.
    /// <see langword="false"/>: always store <c>weight_zero_point</c> (so every module of an asymmetric run carries one).
    /// </summary>
    public bool? Symmetric { get; init; }

    /// <summary>
    /// Whether to store <c>weight_g_idx</c> even when the group of column j is j / group size, so that every module of an
    /// <see cref="ActOrder.Group"/> checkpoint carries one. Defaults to <see langword="false"/>.
    /// </summary>
    public bool WriteGroupIndex { get; init; }
}
