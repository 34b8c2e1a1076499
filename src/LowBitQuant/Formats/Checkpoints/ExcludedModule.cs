namespace LowBitQuant.Formats.Checkpoints;

/// <summary>A linear module written in full precision instead of quantized, and why.</summary>
/// <param name="Name">The Hugging Face module name, e.g. <c>model.layers.0.mlp.down_proj</c>.</param>
/// <param name="Reason">Why the format could not hold it (or that no quantized tensor was given).</param>
public sealed record ExcludedModule(string Name, string Reason);
