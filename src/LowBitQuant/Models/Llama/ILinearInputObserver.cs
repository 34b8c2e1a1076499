namespace LowBitQuant;

/// <summary>
/// Sees the input activations of every linear projection as the forward pass runs (calibration capture).
/// Called on the forward pass's thread, once per projection (q, k and v each see the same input), in execution order.
/// </summary>
public interface ILinearInputObserver
{
    /// <summary>Receives the input of one projection.</summary>
    /// <param name="layer">The decoder block.</param>
    /// <param name="moduleName">The Hugging Face module name, e.g. <c>model.layers.0.self_attn.q_proj</c>.</param>
    /// <param name="tensor">The projection's role.</param>
    /// <param name="activations">Tokens × input width, row-major, every token of every sequence of the batch.
    /// Valid only during the call: copy what must be kept.</param>
    void OnLinearInput(int layer, string moduleName, LlamaTensor tensor, DenseMatrix activations);
}
