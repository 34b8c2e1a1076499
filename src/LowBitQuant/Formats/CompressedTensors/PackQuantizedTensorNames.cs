namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>Suffixes of the tensors a <c>pack-quantized</c> module stores, appended to the module name after a dot.</summary>
public static class PackQuantizedTensorNames
{
    /// <summary>I32 [out, ceil(in / f)]: the codes, packed along each row.</summary>
    public const string WeightPacked = "weight_packed";

    /// <summary>F16/BF16 [out, G]: the scales.</summary>
    public const string WeightScale = "weight_scale";

    /// <summary>I32 [ceil(out / f), G]: the zero points packed along dimension 0 (asymmetric only).</summary>
    public const string WeightZeroPoint = "weight_zero_point";

    /// <summary>I32 [in]: the group of each input column (act-order with dynamic groups only).</summary>
    public const string WeightGroupIndex = "weight_g_idx";

    /// <summary>I32 [2]: (out, in).</summary>
    public const string WeightShape = "weight_shape";
}
