namespace LowBitQuant;

/// <summary>A validated batch of sequences laid out token after token: where each sequence starts, its length, each token's position.</summary>
internal sealed record LlamaBatch(IReadOnlyList<int[]> Sequences, int[] Starts, int[] Lengths, int[] Positions, int Total);
