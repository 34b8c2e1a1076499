namespace LowBitQuant.Tests.Formats.Checkpoints;

/// <summary>Passes reads through and cancels a token at the given read, to interrupt a write midway.</summary>
internal sealed class CancellingWeightSource(ILlamaWeightSource inner, CancellationTokenSource cts, int cancelAtRead) : ILlamaWeightSource
{
    private int _reads;

    public LlamaConfig Config => inner.Config;

    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        if (++_reads == cancelAtRead)
        {
            cts.Cancel();
        }

        inner.ReadTensor(tensor, layer, destination);
    }

    public void Dispose()
    {
    }
}
