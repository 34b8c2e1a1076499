namespace LowBitQuant;

/// <summary>Which pairs of a head's channels rotary position embedding (RoPE) rotates together.</summary>
public enum RopeConvention
{
    /// <summary>Adjacent pairs <c>(2i, 2i + 1)</c> within each head, as llama2.c's <c>run.c</c> does.</summary>
    AdjacentPairs,

    /// <summary>Half rotation <c>(i, i + headDim/2)</c> within each head ("rotate_half"), as Hugging Face Llama does.</summary>
    HalfRotation,
}
