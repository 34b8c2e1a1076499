namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>The 16-bit floating-point type <c>weight_scale</c> is stored in (the model dtype).</summary>
public enum ScaleDataType
{
    /// <summary>IEEE 754 binary16 (safetensors <c>F16</c>): 11-bit precision, normal range [2^−14, 65504].</summary>
    Float16,

    /// <summary>bfloat16 (safetensors <c>BF16</c>): 8-bit precision, the exponent range of float32.</summary>
    BFloat16,
}
