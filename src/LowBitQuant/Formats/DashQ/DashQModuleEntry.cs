namespace LowBitQuant.Formats.DashQ;

/// <summary>One entry of <c>quantized_modules</c> in dashq_config.json (formats/dashq-packed.md §1).</summary>
/// <param name="InFeatures"><c>in_features</c>.</param>
/// <param name="OutFeatures"><c>out_features</c>.</param>
/// <param name="QuantInFeatures"><c>quant_in_features</c>; LowBitQuant always writes <c>in_features</c>.</param>
/// <param name="Bits"><c>nbits</c>.</param>
/// <param name="GroupSize"><c>group_size</c>.</param>
/// <param name="ScaleZeroDType"><c>scale_zero_dtype</c>, one of the exact names the authors' loader knows.</param>
/// <param name="LinearDType"><c>linear_dtype</c>.</param>
public sealed record DashQModuleEntry(int InFeatures, int OutFeatures, int QuantInFeatures, int Bits, int GroupSize, string ScaleZeroDType = "float16", string LinearDType = "bfloat16")
{
    /// <summary>The scale/zero dtype names the authors' loader accepts; any other name would silently fall back, so it is rejected here.</summary>
    public static readonly IReadOnlySet<string> KnownScaleZeroDTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "float16", "fp16", "half", "bfloat16", "bf16", "float32", "fp32", "fp8", "fp8_e5m2", "float8_e5m2", "fp8_e4m3", "float8_e4m3fn",
    };

    /// <summary><c>num_groups</c> = out · quant_in / group size.</summary>
    public long GroupCount => (long)OutFeatures * QuantInFeatures / GroupSize;

    /// <summary>Codes per 32-bit word, 32 // bits.</summary>
    public int CodesPerWord => 32 / Bits;

    /// <summary>Length of the flat <c>W_q_packed</c> tensor, ceil(out · quant_in / (32 // bits)).</summary>
    public long PackedLength => (((long)OutFeatures * QuantInFeatures) + CodesPerWord - 1) / CodesPerWord;
}
