namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// How a GPTQ checkpoint stores integer zero-points in <c>qzeros</c> (formats/gptq-checkpoint.md §3).
/// </summary>
public enum GptqZeroConvention
{
    /// <summary>
    /// <c>checkpoint_format: "gptq"</c>: the stored field is z − 1 and loaders add 1. A zero of 0 cannot be stored.
    /// </summary>
    V1,

    /// <summary><c>checkpoint_format: "gptq_v2"</c>: the stored field is z exactly.</summary>
    V2,
}
