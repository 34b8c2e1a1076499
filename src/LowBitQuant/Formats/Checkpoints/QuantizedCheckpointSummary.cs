namespace LowBitQuant.Formats.Checkpoints;

/// <summary>What <see cref="QuantizedCheckpointWriter.Write"/> wrote.</summary>
public sealed class QuantizedCheckpointSummary
{
    /// <summary>Creates a summary.</summary>
    /// <param name="directory">The checkpoint folder (full path).</param>
    /// <param name="format">The layout written.</param>
    /// <param name="formatLabel">The label stored in the configuration, e.g. <c>gptq</c>, <c>gptq_v2</c>, <c>dashq-packed-linear</c>.</param>
    /// <param name="quantizedModules">Modules stored quantized, in model order.</param>
    /// <param name="excludedModules">Linear modules stored in full precision, with reasons, in model order.</param>
    /// <param name="files">Files of the folder, relative names, sorted.</param>
    /// <param name="tensorBytes">Bytes of tensor data over all shards.</param>
    /// <param name="permutedQueryKeyRows">Whether q/k rows were permuted from llama2.c's adjacent-pair RoPE order into Hugging Face's half rotation.</param>
    public QuantizedCheckpointSummary(
        string directory,
        QuantizedCheckpointFormat format,
        string formatLabel,
        IReadOnlyList<string> quantizedModules,
        IReadOnlyList<ExcludedModule> excludedModules,
        IReadOnlyList<string> files,
        long tensorBytes,
        bool permutedQueryKeyRows)
    {
        Directory = directory;
        Format = format;
        FormatLabel = formatLabel;
        QuantizedModules = quantizedModules;
        ExcludedModules = excludedModules;
        Files = files;
        TensorBytes = tensorBytes;
        PermutedQueryKeyRows = permutedQueryKeyRows;
    }

    /// <summary>The checkpoint folder (full path).</summary>
    public string Directory { get; }

    /// <summary>The layout written.</summary>
    public QuantizedCheckpointFormat Format { get; }

    /// <summary>
    /// The label that matches the bytes: <c>gptq</c> or <c>gptq_v2</c> (GPTQ <c>checkpoint_format</c>), <c>dashq-packed-linear</c>,
    /// or <c>compressed-tensors pack-quantized</c>.
    /// </summary>
    public string FormatLabel { get; }

    /// <summary>Modules stored quantized, in model order.</summary>
    public IReadOnlyList<string> QuantizedModules { get; }

    /// <summary>Linear modules stored in full precision (F32) with the reason, in model order.</summary>
    public IReadOnlyList<ExcludedModule> ExcludedModules { get; }

    /// <summary>Files in the folder (names relative to it), sorted ordinally.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Bytes of tensor data over all safetensors shards.</summary>
    public long TensorBytes { get; }

    /// <summary>Whether the q/k rows were permuted from llama2.c's adjacent-pair RoPE order into Hugging Face's half rotation.</summary>
    public bool PermutedQueryKeyRows { get; }
}
