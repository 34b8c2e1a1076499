namespace LowBitQuant;

/// <summary>Progress of an evaluation.</summary>
/// <param name="TokensScored">Tokens scored so far.</param>
/// <param name="TotalTokens">Tokens to score in all.</param>
/// <param name="TokensPerSecond">Throughput so far (tokens through the full-precision model, per second of wall time).</param>
public readonly record struct EvaluationProgress(long TokensScored, long TotalTokens, double TokensPerSecond);
