using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// Presents an <see cref="RopeConvention.AdjacentPairs"/> (llama2.c) weight source in Hugging Face's
/// <see cref="RopeConvention.HalfRotation"/> row order: q/k rows are permuted per head, everything else is passed through.
/// The two give the same model (formats/llama2c.md §3). Does not own the inner source.
/// </summary>
internal sealed class HalfRotationWeightSource : ILlamaWeightSource
{
    private readonly ILlamaWeightSource _inner;

    public HalfRotationWeightSource(ILlamaWeightSource inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner.Config.RopeConvention != RopeConvention.AdjacentPairs)
        {
            ThrowHelper.ThrowArgument(nameof(inner), "The source already uses the half-rotation RoPE convention.");
        }

        _inner = inner;
        Config = inner.Config.With(RopeConvention.HalfRotation, inner.Config.TiedEmbeddings);
    }

    public LlamaConfig Config { get; }

    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        _inner.ReadTensor(tensor, layer, destination);
        if (RopeRowPermutation.Applies(tensor))
        {
            (int rows, int columns) = Config.GetShape(tensor);
            RopeRowPermutation.PermuteRows(destination, rows, columns, Config.HeadDim);
        }
    }

    public void Dispose()
    {
    }
}
