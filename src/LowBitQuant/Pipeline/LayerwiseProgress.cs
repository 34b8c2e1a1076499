namespace LowBitQuant;

/// <summary>Progress of a <see cref="LayerwiseQuantizer"/> run.</summary>
/// <param name="Layer">The decoder block in work (0-based).</param>
/// <param name="Layers">Blocks in the model.</param>
/// <param name="Module">The module just finished, or null when a whole block finished.</param>
/// <param name="Report">The finished module's report, or null for a block event.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record LayerwiseProgress(int Layer, int Layers, string? Module, ModuleReport? Report, TimeSpan Elapsed);
