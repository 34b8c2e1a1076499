using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// The description of a Llama-family decoder (Llama 2/3, Mistral-style GQA models): sizes, heads, RoPE and norm settings.
/// Architectures differ by configuration, not code. Validated once, in the constructor and the <c>init</c> accessors.
/// </summary>
public sealed class LlamaConfig
{
    private readonly int _headDim;
    private readonly double _ropeTheta = 10000.0;
    private readonly double _normEpsilon = 1e-5;

    /// <summary>Creates a configuration; the head size defaults to <paramref name="dim"/> / <paramref name="heads"/>.</summary>
    /// <param name="dim">Model (residual stream) width.</param>
    /// <param name="hiddenDim">Feed-forward (SwiGLU) width.</param>
    /// <param name="layers">Number of decoder blocks.</param>
    /// <param name="heads">Number of query heads.</param>
    /// <param name="kvHeads">Number of key/value heads; divides <paramref name="heads"/> (grouped-query attention).</param>
    /// <param name="vocabSize">Vocabulary size.</param>
    /// <param name="maxSequenceLength">Longest context the model supports.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="kvHeads"/> does not divide <paramref name="heads"/>.</exception>
    public LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize, int maxSequenceLength)
    {
        RequirePositive(dim, nameof(dim));
        RequirePositive(hiddenDim, nameof(hiddenDim));
        RequirePositive(layers, nameof(layers));
        RequirePositive(heads, nameof(heads));
        RequirePositive(kvHeads, nameof(kvHeads));
        RequirePositive(vocabSize, nameof(vocabSize));
        RequirePositive(maxSequenceLength, nameof(maxSequenceLength));
        if (heads % kvHeads != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(kvHeads), kvHeads, $"The number of key/value heads ({kvHeads}) must divide the number of query heads ({heads}).");
        }

        Dim = dim;
        HiddenDim = hiddenDim;
        Layers = layers;
        Heads = heads;
        KvHeads = kvHeads;
        VocabSize = vocabSize;
        MaxSequenceLength = maxSequenceLength;
        if (dim % heads == 0)
        {
            _headDim = dim / heads;
        }
    }

    /// <summary>Model width.</summary>
    public int Dim { get; }

    /// <summary>Feed-forward width.</summary>
    public int HiddenDim { get; }

    /// <summary>Number of decoder blocks.</summary>
    public int Layers { get; }

    /// <summary>Number of query heads.</summary>
    public int Heads { get; }

    /// <summary>Number of key/value heads; query head h reads KV head <c>h / (Heads / KvHeads)</c>.</summary>
    public int KvHeads { get; }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>Longest context the model supports.</summary>
    public int MaxSequenceLength { get; }

    /// <summary>Size of one attention head (even). Defaults to <see cref="Dim"/> / <see cref="Heads"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive or odd.</exception>
    /// <exception cref="InvalidOperationException">Read while unset and <see cref="Dim"/> is not a multiple of <see cref="Heads"/>.</exception>
    public int HeadDim
    {
        get => _headDim > 0 ? _headDim : throw new InvalidOperationException($"dim {Dim} is not a multiple of heads {Heads}; set HeadDim explicitly.");
        init
        {
            if (value <= 0 || value % 2 != 0)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(HeadDim), value, "The head size must be positive and even (RoPE rotates pairs).");
            }

            _headDim = value;
        }
    }

    /// <summary>RoPE base θ (10000 for Llama 2).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not finite or not greater than 1.</exception>
    public double RopeTheta
    {
        get => _ropeTheta;
        init
        {
            if (!double.IsFinite(value) || value <= 1)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(RopeTheta), value, "RoPE theta must be finite and greater than 1.");
            }

            _ropeTheta = value;
        }
    }

    /// <summary>Which channel pairs RoPE rotates; must match the row order of the q/k projections.</summary>
    public RopeConvention RopeConvention { get; init; } = RopeConvention.HalfRotation;

    /// <summary>ε added to the mean square in RMSNorm.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not finite or not positive.</exception>
    public double NormEpsilon
    {
        get => _normEpsilon;
        init
        {
            if (!double.IsFinite(value) || value <= 0)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(NormEpsilon), value, "The RMSNorm epsilon must be finite and positive.");
            }

            _normEpsilon = value;
        }
    }

    /// <summary>True when the output head shares the token embedding matrix.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Width of the query projection output: <c>Heads · HeadDim</c>.</summary>
    public int QueryDim => Heads * HeadDim;

    /// <summary>Width of the key and value projection outputs: <c>KvHeads · HeadDim</c>.</summary>
    public int KvDim => KvHeads * HeadDim;

    /// <summary>A copy with the given RoPE convention and embedding tying (everything else equal).</summary>
    internal LlamaConfig With(RopeConvention ropeConvention, bool tiedEmbeddings) =>
        new(Dim, HiddenDim, Layers, Heads, KvHeads, VocabSize, MaxSequenceLength)
        {
            HeadDim = HeadDim,
            RopeTheta = RopeTheta,
            NormEpsilon = NormEpsilon,
            TiedEmbeddings = tiedEmbeddings,
            RopeConvention = ropeConvention,
        };

    /// <summary>True for tensors stored once per decoder block.</summary>
    public static bool IsPerLayer(LlamaTensor tensor) => tensor is not (LlamaTensor.TokenEmbedding or LlamaTensor.FinalNorm or LlamaTensor.OutputHead);

    /// <summary>True for the seven linear projections of a decoder block.</summary>
    public static bool IsLinear(LlamaTensor tensor) => tensor is LlamaTensor.QueryProjection or LlamaTensor.KeyProjection or LlamaTensor.ValueProjection
        or LlamaTensor.OutputProjection or LlamaTensor.GateProjection or LlamaTensor.UpProjection or LlamaTensor.DownProjection;

    /// <summary>The shape <c>[rows, columns]</c> of a tensor (vectors have one row).</summary>
    public (int Rows, int Columns) GetShape(LlamaTensor tensor) => tensor switch
    {
        LlamaTensor.TokenEmbedding or LlamaTensor.OutputHead => (VocabSize, Dim),
        LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm => (1, Dim),
        LlamaTensor.QueryProjection => (QueryDim, Dim),
        LlamaTensor.KeyProjection or LlamaTensor.ValueProjection => (KvDim, Dim),
        LlamaTensor.OutputProjection => (Dim, QueryDim),
        LlamaTensor.GateProjection or LlamaTensor.UpProjection => (HiddenDim, Dim),
        LlamaTensor.DownProjection => (Dim, HiddenDim),
        _ => throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "Unknown tensor role."),
    };

    /// <summary>The Hugging Face name of a tensor, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is outside [0, Layers) for a per-layer tensor.</exception>
    public string GetTensorName(LlamaTensor tensor, int layer)
    {
        if (IsPerLayer(tensor) && (uint)layer >= (uint)Layers)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(layer), layer, $"Layer must be in [0, {Layers}).");
        }

        return tensor switch
        {
            LlamaTensor.TokenEmbedding => "model.embed_tokens.weight",
            LlamaTensor.FinalNorm => "model.norm.weight",
            LlamaTensor.OutputHead => "lm_head.weight",
            LlamaTensor.AttentionNorm => $"model.layers.{layer}.input_layernorm.weight",
            LlamaTensor.FeedForwardNorm => $"model.layers.{layer}.post_attention_layernorm.weight",
            _ => GetModuleName(tensor, layer) + ".weight",
        };
    }

    /// <summary>The Hugging Face module name of a linear projection, e.g. <c>model.layers.0.mlp.down_proj</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tensor"/> is not a linear projection, or <paramref name="layer"/> is out of range.</exception>
    public string GetModuleName(LlamaTensor tensor, int layer)
    {
        if ((uint)layer >= (uint)Layers)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(layer), layer, $"Layer must be in [0, {Layers}).");
        }

        string suffix = tensor switch
        {
            LlamaTensor.QueryProjection => "self_attn.q_proj",
            LlamaTensor.KeyProjection => "self_attn.k_proj",
            LlamaTensor.ValueProjection => "self_attn.v_proj",
            LlamaTensor.OutputProjection => "self_attn.o_proj",
            LlamaTensor.GateProjection => "mlp.gate_proj",
            LlamaTensor.UpProjection => "mlp.up_proj",
            LlamaTensor.DownProjection => "mlp.down_proj",
            _ => throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "Only the seven linear projections have module names."),
        };
        return $"model.layers.{layer}.{suffix}";
    }

    /// <summary>Parses a module name produced by <see cref="GetModuleName"/>.</summary>
    public bool TryParseModuleName(string moduleName, out int layer, out LlamaTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(moduleName);
        layer = -1;
        tensor = default;
        const string Prefix = "model.layers.";
        if (!moduleName.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        int dot = moduleName.IndexOf('.', Prefix.Length);
        if (dot < 0 || !int.TryParse(moduleName.AsSpan(Prefix.Length, dot - Prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int l) || l >= Layers)
        {
            return false;
        }

        foreach (LlamaTensor candidate in LinearTensors)
        {
            if (GetModuleName(candidate, l) == moduleName)
            {
                layer = l;
                tensor = candidate;
                return true;
            }
        }

        return false;
    }

    /// <summary>The seven linear projections in execution order (q, k, v, o, gate, up, down).</summary>
    public static IReadOnlyList<LlamaTensor> LinearTensors { get; } =
    [
        LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection, LlamaTensor.OutputProjection,
        LlamaTensor.GateProjection, LlamaTensor.UpProjection, LlamaTensor.DownProjection,
    ];

    /// <inheritdoc />
    public override string ToString() =>
        $"dim {Dim}, hidden {HiddenDim}, layers {Layers}, heads {Heads}/{KvHeads} (head {(_headDim > 0 ? _headDim : 0)}), vocab {VocabSize}, context {MaxSequenceLength}, " +
        $"RoPE θ {RopeTheta} {RopeConvention}, eps {NormEpsilon}, {(TiedEmbeddings ? "tied" : "untied")} head";

    private static void RequirePositive(int value, string paramName)
    {
        if (value <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, value, $"'{paramName}' must be positive.");
        }
    }
}
