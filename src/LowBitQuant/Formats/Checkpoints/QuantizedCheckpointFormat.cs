namespace LowBitQuant.Formats.Checkpoints;

/// <summary>The on-disk layout <see cref="QuantizedCheckpointWriter"/> writes for the quantized linears of a Hugging Face model folder.</summary>
public enum QuantizedCheckpointFormat
{
    /// <summary>
    /// GPTQ (formats/gptq-checkpoint.md): <c>qweight</c>/<c>qzeros</c>/<c>scales</c>/<c>g_idx</c>, labelled <c>"gptq"</c> (v1) or
    /// <c>"gptq_v2"</c>; modules whose in/out channels are not multiples of 32 are kept in full precision and listed in
    /// <c>dynamic</c> with <c>-:</c> entries.
    /// </summary>
    Gptq,

    /// <summary>The DASH-Q authors' packed format (<c>dashq-packed-linear</c>, formats/dashq-packed.md) with <c>dashq_config.json</c>.</summary>
    DashQ,

    /// <summary>compressed-tensors <c>pack-quantized</c> (formats/compressed-tensors.md), as llm-compressor writes and vLLM loads.</summary>
    CompressedTensors,
}
