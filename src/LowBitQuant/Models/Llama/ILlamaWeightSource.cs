namespace LowBitQuant;

/// <summary>
/// Supplies the weights of a Llama-family model tensor by tensor, on demand, so the runtime never needs the whole
/// checkpoint in memory (readers memory-map their files and copy one tensor at a time).
/// </summary>
public interface ILlamaWeightSource : IDisposable
{
    /// <summary>The model description.</summary>
    LlamaConfig Config { get; }

    /// <summary>Copies one tensor, row-major in the shape <see cref="LlamaConfig.GetShape"/> gives, into <paramref name="destination"/>.</summary>
    /// <param name="tensor">Which tensor.</param>
    /// <param name="layer">The decoder block for per-layer tensors; ignored otherwise.</param>
    /// <param name="destination">Exactly rows × columns elements.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong length, or <paramref name="tensor"/> is
    /// <see cref="LlamaTensor.OutputHead"/> of a tied model.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination);
}
