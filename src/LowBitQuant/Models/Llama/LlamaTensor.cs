namespace LowBitQuant;

/// <summary>The role of one weight tensor of a Llama-family decoder; shapes follow <see cref="LlamaConfig"/>.</summary>
public enum LlamaTensor
{
    /// <summary>Token embedding, <c>[vocab, dim]</c> (<c>model.embed_tokens.weight</c>).</summary>
    TokenEmbedding,

    /// <summary>RMSNorm weight before attention, <c>[dim]</c> (<c>input_layernorm</c>).</summary>
    AttentionNorm,

    /// <summary>Query projection, <c>[heads · headDim, dim]</c> (<c>self_attn.q_proj</c>).</summary>
    QueryProjection,

    /// <summary>Key projection, <c>[kvHeads · headDim, dim]</c> (<c>self_attn.k_proj</c>).</summary>
    KeyProjection,

    /// <summary>Value projection, <c>[kvHeads · headDim, dim]</c> (<c>self_attn.v_proj</c>).</summary>
    ValueProjection,

    /// <summary>Attention output projection, <c>[dim, heads · headDim]</c> (<c>self_attn.o_proj</c>).</summary>
    OutputProjection,

    /// <summary>RMSNorm weight before the feed-forward block, <c>[dim]</c> (<c>post_attention_layernorm</c>).</summary>
    FeedForwardNorm,

    /// <summary>SwiGLU gate projection, <c>[hiddenDim, dim]</c> (<c>mlp.gate_proj</c>, llama2.c <c>w1</c>).</summary>
    GateProjection,

    /// <summary>SwiGLU up projection, <c>[hiddenDim, dim]</c> (<c>mlp.up_proj</c>, llama2.c <c>w3</c>).</summary>
    UpProjection,

    /// <summary>SwiGLU down projection, <c>[dim, hiddenDim]</c> (<c>mlp.down_proj</c>, llama2.c <c>w2</c>).</summary>
    DownProjection,

    /// <summary>Final RMSNorm weight, <c>[dim]</c> (<c>model.norm.weight</c>).</summary>
    FinalNorm,

    /// <summary>Output head, <c>[vocab, dim]</c> (<c>lm_head.weight</c>); absent when the head is tied to the embedding.</summary>
    OutputHead,
}
