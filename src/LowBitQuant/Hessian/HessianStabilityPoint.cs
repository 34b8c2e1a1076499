namespace LowBitQuant;

/// <summary>How far the estimate from the first <see cref="Sequences"/> calibration sequences is from the full-data estimate.</summary>
/// <param name="Sequences">Calibration sequences used (1, 2, 4, …).</param>
/// <param name="Tokens">Tokens in those sequences.</param>
/// <param name="DiagonalRelativeL1Error">Σ_j |H_k[j,j] − H[j,j]| / Σ_j |H[j,j]|.</param>
/// <param name="OffDiagonalRelativeL1Error">Σ_{i≠j} |H_k[i,j] − H[i,j]| / Σ_{i≠j} |H[i,j]| (NaN for one channel).</param>
public sealed record HessianStabilityPoint(int Sequences, long Tokens, double DiagonalRelativeL1Error, double OffDiagonalRelativeL1Error);
