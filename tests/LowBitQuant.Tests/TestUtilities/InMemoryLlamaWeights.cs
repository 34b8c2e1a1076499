namespace LowBitQuant.Tests.TestUtilities;

/// <summary>A seeded synthetic Llama model held in memory, for block-level tests.</summary>
public sealed class InMemoryLlamaWeights : ILlamaWeightSource
{
    private readonly Dictionary<(LlamaTensor, int), float[]> _tensors = [];

    public InMemoryLlamaWeights(LlamaConfig config, int seed)
    {
        Config = config;
        var rng = new Random(seed);
        foreach (LlamaTensor t in Enum.GetValues<LlamaTensor>())
        {
            if (t == LlamaTensor.OutputHead && config.TiedEmbeddings)
            {
                continue;
            }

            int layers = LlamaConfig.IsPerLayer(t) ? config.Layers : 1;
            for (int l = 0; l < layers; l++)
            {
                (int rows, int cols) = config.GetShape(t);
                var data = new float[rows * cols];
                bool norm = t is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm;
                float scale = norm ? 0.5f : 1.0f / MathF.Sqrt(cols);
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = norm ? 0.75f + (scale * (float)rng.NextDouble()) : scale * (float)((rng.NextDouble() * 2) - 1) * 1.7f;
                }

                _tensors[(t, l)] = data;
            }
        }
    }

    public LlamaConfig Config { get; }

    public int Reads { get; private set; }

    public float[] Get(LlamaTensor tensor, int layer = 0) => _tensors[(tensor, LlamaConfig.IsPerLayer(tensor) ? layer : 0)];

    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        Reads++;
        Get(tensor, layer).CopyTo(destination);
    }

    public void Dispose()
    {
    }
}
