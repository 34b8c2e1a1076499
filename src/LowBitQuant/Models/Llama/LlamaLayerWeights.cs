namespace LowBitQuant;

/// <summary>The weights of one decoder block, row-major <c>[out, in]</c>, as the forward pass consumes them.</summary>
internal sealed class LlamaLayerWeights
{
    private readonly float[][] _tensors = new float[(int)LlamaTensor.OutputHead + 1][];

    /// <summary>Reads every per-layer tensor of block <paramref name="layer"/> from <paramref name="source"/>.</summary>
    public static LlamaLayerWeights Read(ILlamaWeightSource source, int layer)
    {
        var weights = new LlamaLayerWeights();
        foreach (LlamaTensor tensor in Enum.GetValues<LlamaTensor>())
        {
            if (!LlamaConfig.IsPerLayer(tensor))
            {
                continue;
            }

            (int rows, int columns) = source.Config.GetShape(tensor);
            var data = new float[rows * columns];
            source.ReadTensor(tensor, layer, data);
            weights._tensors[(int)tensor] = data;
        }

        return weights;
    }

    /// <summary>The tensor of the given role.</summary>
    public float[] this[LlamaTensor tensor]
    {
        get => _tensors[(int)tensor];
        set => _tensors[(int)tensor] = value;
    }
}
