using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// A weight source that reads another one except for the tensors set on it, e.g. the full-precision weights of a model whose
/// HeRo-Q transforms were folded into its norms, embeddings and neighbouring linears. Setting the head of a tied model unties it.
/// Does not own the inner source.
/// </summary>
internal sealed class LlamaWeightOverlay(ILlamaWeightSource inner) : ILlamaWeightSource
{
    private readonly Dictionary<(int Layer, LlamaTensor Tensor), float[]> _tensors = [];

    /// <summary>The source read for every tensor not set here.</summary>
    public ILlamaWeightSource Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc/>
    public LlamaConfig Config { get; private set; } = inner.Config;

    /// <summary>Overrides one tensor; <paramref name="data"/> is kept, not copied.</summary>
    public void Set(LlamaTensor tensor, int layer, float[] data)
    {
        (int rows, int columns) = Config.GetShape(tensor);
        if (data.Length != rows * columns)
        {
            ThrowHelper.ThrowArgument(nameof(data), $"{Config.GetTensorName(tensor, layer)} needs {rows * columns} values, not {data.Length}.");
        }

        if (tensor == LlamaTensor.OutputHead && Config.TiedEmbeddings)
        {
            Config = Config.With(Config.RopeConvention, tiedEmbeddings: false);
        }

        _tensors[(LlamaConfig.IsPerLayer(tensor) ? layer : 0, tensor)] = data;
    }

    /// <inheritdoc/>
    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        if (_tensors.TryGetValue((LlamaConfig.IsPerLayer(tensor) ? layer : 0, tensor), out float[]? data))
        {
            if (destination.Length != data.Length)
            {
                ThrowHelper.ThrowArgument(nameof(destination), $"{Config.GetTensorName(tensor, layer)} has {data.Length} values; the destination holds {destination.Length}.");
            }

            data.CopyTo(destination);
            return;
        }

        Inner.ReadTensor(tensor, layer, destination);
    }

    /// <summary>The innermost source (for the checkpoint folder and tokenizer ids).</summary>
    public static ILlamaWeightSource Unwrap(ILlamaWeightSource source) => source is LlamaWeightOverlay o ? Unwrap(o.Inner) : source;

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
