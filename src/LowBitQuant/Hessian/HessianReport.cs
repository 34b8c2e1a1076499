namespace LowBitQuant;

/// <summary>What <see cref="HessianDiagnostics.Analyze"/> measured about one layer's calibration inputs.</summary>
public sealed class HessianReport
{
    internal HessianReport(int columns, long tokens, int sequences, int sequenceLength, IReadOnlyList<HessianStabilityPoint> stability,
        SignalToNoiseSummary diagonalSnr, SignalToNoiseSummary offDiagonalSnr, int deadChannels, double largestEigenvalue, double smallestEigenvalue)
    {
        Columns = columns;
        Tokens = tokens;
        Sequences = sequences;
        SequenceLength = sequenceLength;
        Stability = stability;
        DiagonalSnr = diagonalSnr;
        OffDiagonalSnr = offDiagonalSnr;
        DeadChannels = deadChannels;
        LargestEigenvalue = largestEigenvalue;
        SmallestEigenvalue = smallestEigenvalue;
    }

    /// <summary>Input channels.</summary>
    public int Columns { get; }

    /// <summary>Tokens analysed.</summary>
    public long Tokens { get; }

    /// <summary>Calibration sequences (batches) the tokens were split into.</summary>
    public int Sequences { get; }

    /// <summary>Tokens per sequence.</summary>
    public int SequenceLength { get; }

    /// <summary>Error of the estimate from 1, 2, 4, … sequences against the full-data estimate (the last point uses every sequence and is 0).</summary>
    public IReadOnlyList<HessianStabilityPoint> Stability { get; }

    /// <summary>Per-sequence signal-to-noise ratios of the diagonal entries.</summary>
    public SignalToNoiseSummary DiagonalSnr { get; }

    /// <summary>Per-sequence signal-to-noise ratios of the off-diagonal entries (upper triangle).</summary>
    public SignalToNoiseSummary OffDiagonalSnr { get; }

    /// <summary>Channels whose input is zero on every token (H[j,j] = 0); GPTQ must treat them specially.</summary>
    public int DeadChannels { get; }

    /// <summary>λ_max(H) by power iteration.</summary>
    public double LargestEigenvalue { get; }

    /// <summary>λ_min(H) by power iteration on λ_max·I − H; accurate to about 1e-6·λ_max, and 0 or slightly negative when H is singular.</summary>
    public double SmallestEigenvalue { get; }

    /// <summary>λ_max / λ_min, or +∞ when λ_min ≤ 1e-6·λ_max (numerically singular: GPTQ needs damping).</summary>
    public double ConditionEstimate => SmallestEigenvalue > 1e-6 * LargestEigenvalue ? LargestEigenvalue / SmallestEigenvalue : double.PositiveInfinity;
}
