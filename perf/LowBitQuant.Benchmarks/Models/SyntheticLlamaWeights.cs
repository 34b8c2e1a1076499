namespace LowBitQuant.Benchmarks.Models;

/// <summary>Seeded random weights of any Llama shape, generated on demand (nothing stored), for runtime benchmarks.</summary>
internal sealed class SyntheticLlamaWeights(LlamaConfig config, int seed) : ILlamaWeightSource
{
    public LlamaConfig Config { get; } = config;

    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        var rng = new Random(HashCode.Combine(seed, tensor, layer));
        bool norm = tensor is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm;
        float scale = norm ? 1f : 1f / MathF.Sqrt(Config.GetShape(tensor).Columns);
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = norm ? 1f : scale * (float)((rng.NextDouble() * 2) - 1);
        }
    }

    public void Dispose()
    {
    }
}
