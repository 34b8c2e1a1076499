namespace LowBitQuant;

/// <summary>The result of quantizing a model layer by layer.</summary>
public sealed class LayerwiseResult
{
    internal LayerwiseResult(IReadOnlyDictionary<string, QuantizedTensor> modules, IReadOnlyList<ModuleReport> reports, int resumedLayers, string? resumeNote, ILlamaWeightSource weights, LayerwiseTimings timings)
    {
        Weights = weights;
        Modules = modules;
        Reports = reports;
        ResumedLayers = resumedLayers;
        ResumeNote = resumeNote;
        Timings = timings;
    }

    /// <summary>Every quantized linear, by Hugging Face module name, in the source model's row convention.</summary>
    public IReadOnlyDictionary<string, QuantizedTensor> Modules { get; }

    /// <summary>One report per module, in processing order.</summary>
    public IReadOnlyList<ModuleReport> Reports { get; }

    /// <summary>Blocks loaded from durable state instead of recomputed.</summary>
    public int ResumedLayers { get; }

    /// <summary>What happened to previous durable state (e.g. discarded because the inputs changed), or null.</summary>
    public string? ResumeNote { get; }

    /// <summary>
    /// The full-precision weights the modules were quantized from, for writing a checkpoint: the model's source, or, for HeRo-Q,
    /// a view of it with the transforms folded into norms, embeddings, head and linears (valid while the model is open).
    /// </summary>
    public ILlamaWeightSource Weights { get; }

    /// <summary>Where the time went.</summary>
    public LayerwiseTimings Timings { get; }
}

/// <summary>Seconds spent in forward passes, Hessian accumulation and the quantizer (so the bottleneck is visible).</summary>
public sealed record LayerwiseTimings(double ForwardSeconds, double HessianSeconds, double QuantizerSeconds, double TotalSeconds);
