namespace LowBitQuant;

/// <summary>
/// What a quantizer did beyond the plain algorithm for one layer: damping used, escalations, fallbacks, iterations.
/// Nothing is done silently: every deviation shows up here.
/// </summary>
public sealed record QuantizationDiagnostics
{
    /// <summary>The method that produced the result, e.g. "rtn", "gptq", "dashq", "heroq(gptq)".</summary>
    public required string Method { get; init; }

    /// <summary>Final damping as a fraction of mean(diag H), when the method damps.</summary>
    public double? Damping { get; init; }

    /// <summary>How many times the damping was raised after a failed factorisation.</summary>
    public int DampingEscalations { get; init; }

    /// <summary>A fallback that replaced the method for this layer, with its reason; <see langword="null"/> when none.</summary>
    public string? Fallback { get; init; }

    /// <summary>Iterations run, for iterative methods.</summary>
    public int? Iterations { get; init; }

    /// <summary>Free-form notes (e.g. the rotation chosen), in the order they happened.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}
