using System.Reflection;
using LowBitQuant.Formats.CompressedTensors;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>Choices and labels for <see cref="QuantizedCheckpointWriter.Write"/>.</summary>
public sealed record QuantizedCheckpointOptions
{
    /// <summary>The default shard limit: 2 GB of tensor data per safetensors file.</summary>
    public const long DefaultMaxShardBytes = 2_000_000_000;

    /// <summary>The defaults: method "unknown", this library's version, no extra files, 2 GB shards, no overwrite.</summary>
    public static QuantizedCheckpointOptions Default { get; } = new();

    /// <summary>The quantization method recorded in the safetensors <c>__metadata__</c> (e.g. <c>rtn</c>, <c>gptq</c>, <c>dashq</c>, <c>heroq</c>).</summary>
    public string Method { get; init; } = "unknown";

    /// <summary>The producing library's version, recorded as <c>lowbitquant:&lt;version&gt;</c>; defaults to this assembly's version.</summary>
    public string LibraryVersion { get; init; } = DefaultVersion();

    /// <summary>Files copied into the checkpoint folder under their own names (tokenizer files such as <c>tok512.bin</c>, <c>tokenizer.json</c>).</summary>
    public IReadOnlyList<string> ExtraFiles { get; init; } = [];

    /// <summary>
    /// Largest amount of tensor data per safetensors file; when the checkpoint is larger it is split into
    /// <c>model-0000k-of-0000K.safetensors</c> with <c>model.safetensors.index.json</c>. A single larger tensor gets a shard of its own.
    /// </summary>
    public long MaxShardBytes { get; init; } = DefaultMaxShardBytes;

    /// <summary>Whether an existing non-empty output folder may be replaced (atomically, after the new one is complete).</summary>
    public bool Overwrite { get; init; }

    /// <summary><c>bos_token_id</c> for config.json; <see langword="null"/> to take it from a Hugging Face source's config.json (1 for llama2.c).</summary>
    public int? BosTokenId { get; init; }

    /// <summary><c>eos_token_id</c> for config.json; <see langword="null"/> to take it from a Hugging Face source's config.json (2 for llama2.c).</summary>
    public int? EosTokenId { get; init; }

    /// <summary>GPTQ <c>meta.damp_percent</c>: the damping actually used, as a fraction of mean(diag H); <see langword="null"/> for none (RTN, DASH-Q).</summary>
    public double? DampPercent { get; init; }

    /// <summary>GPTQ <c>meta.true_sequential</c>: whether sub-layers were quantized in true sequence.</summary>
    public bool TrueSequential { get; init; } = true;

    /// <summary>GPTQ <c>meta.static_groups</c>: whether grids were fitted before the solve.</summary>
    public bool StaticGroups { get; init; }

    /// <summary>compressed-tensors: whether columns were processed in activation order with consecutive groups (<c>actorder: "weight"</c>).</summary>
    public bool StaticActOrder { get; init; }

    /// <summary>
    /// compressed-tensors packing choices; <see langword="null"/> for F16 scales, zero points stored exactly when the grid is asymmetric,
    /// and <c>weight_g_idx</c> on every module when any module has a group index.
    /// </summary>
    public PackQuantizedOptions? CompressedTensors { get; init; }

    private static string DefaultVersion()
    {
        var assembly = typeof(QuantizedCheckpointOptions).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 ? version[..plus] : version;
    }
}
