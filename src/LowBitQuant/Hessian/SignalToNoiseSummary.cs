namespace LowBitQuant;

/// <summary>
/// Distribution over Hessian entries of the per-batch signal-to-noise ratio |mean_b H_b[i,j]| / std_b H_b[i,j]
/// (H_b: the estimate from batch b alone). Entries with zero spread have an infinite ratio.
/// </summary>
/// <param name="Entries">Entries summarised.</param>
/// <param name="P10">10th percentile.</param>
/// <param name="Median">Median.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="FractionBelowOne">Share of entries whose batch-to-batch noise exceeds their mean (ratio &lt; 1).</param>
public sealed record SignalToNoiseSummary(long Entries, double P10, double Median, double P90, double FractionBelowOne);
