namespace LowBitQuant.Formats.Gptq;

/// <summary>Labels of <see cref="GptqZeroConvention"/> as they appear in checkpoint configurations.</summary>
public static class GptqZeroConventionExtensions
{
    /// <summary>The <c>checkpoint_format</c> value: "gptq" for <see cref="GptqZeroConvention.V1"/>, "gptq_v2" for <see cref="GptqZeroConvention.V2"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="convention"/> is not a defined value.</exception>
    public static string ToCheckpointFormat(this GptqZeroConvention convention) => convention switch
    {
        GptqZeroConvention.V1 => "gptq",
        GptqZeroConvention.V2 => "gptq_v2",
        _ => throw new ArgumentOutOfRangeException(nameof(convention), convention, "Unknown GPTQ zero convention."),
    };

    /// <summary>What a loader adds to the stored zero field to obtain z: 1 for v1, 0 for v2.</summary>
    internal static int ZeroOffset(this GptqZeroConvention convention) => convention == GptqZeroConvention.V1 ? 1 : 0;
}
