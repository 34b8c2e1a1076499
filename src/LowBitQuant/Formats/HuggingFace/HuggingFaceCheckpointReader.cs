namespace LowBitQuant.Formats.HuggingFace;

/// <summary>Placeholder.</summary>
public static class HuggingFaceCheckpointReader
{
    /// <summary>Placeholder.</summary>
    public static ILlamaWeightSource Open(string folder) => throw new NotSupportedException(folder);
}
