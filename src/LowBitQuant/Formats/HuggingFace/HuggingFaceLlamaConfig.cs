using System.Globalization;
using System.Text.Json;

namespace LowBitQuant.Formats.HuggingFace;

/// <summary>
/// Turns a Hugging Face <c>config.json</c> into a <see cref="LlamaConfig"/>. Llama and Mistral layouts (<c>model_type</c>
/// <c>llama</c> / <c>mistral</c>) are accepted; every feature this runtime does not implement (attention or MLP biases, per-head
/// q/k norms, RoPE scaling, activations other than SiLU, sliding-window attention shorter than the context) is refused with a
/// message naming the field.
/// </summary>
public static class HuggingFaceLlamaConfig
{
    /// <summary>The <c>model_type</c> values this runtime reads.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "mistral"];

    /// <summary>Parses <paramref name="path"/> (a <c>config.json</c>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidCheckpointException">The JSON is malformed, a required field is missing or has the wrong type, values
    /// are inconsistent, or the architecture uses a feature this runtime does not implement.</exception>
    public static LlamaConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"'{path}' not found.", path);
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw new InvalidCheckpointException(path, $"config.json is not valid JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            return Parse(doc.RootElement, path);
        }
    }

    /// <summary>Parses the root object of a <c>config.json</c>; <paramref name="path"/> is used in messages.</summary>
    /// <exception cref="InvalidCheckpointException">See <see cref="Load"/>.</exception>
    public static LlamaConfig Parse(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidCheckpointException(path, "config.json must hold a JSON object.");
        }

        string modelType = GetString(root, path, "model_type") ?? throw Missing(path, "model_type");
        if (modelType is "qwen2" or "qwen2_moe")
        {
            throw new InvalidCheckpointException(path, $"model_type '{modelType}' needs q/k/v projection biases, which this runtime does not implement (supported: {string.Join(", ", SupportedModelTypes)}).");
        }

        if (modelType is "qwen3" or "qwen3_moe")
        {
            throw new InvalidCheckpointException(path, $"model_type '{modelType}' needs per-head q_norm/k_norm RMSNorm, which this runtime does not implement (supported: {string.Join(", ", SupportedModelTypes)}).");
        }

        if (!SupportedModelTypes.Contains(modelType))
        {
            throw new InvalidCheckpointException(path, $"model_type '{modelType}' is not a supported Llama-family architecture (supported: {string.Join(", ", SupportedModelTypes)}).");
        }

        if (GetBool(root, path, "attention_bias") == true)
        {
            throw new InvalidCheckpointException(path, "attention_bias is true: attention projection biases are not implemented.");
        }

        if (GetBool(root, path, "mlp_bias") == true)
        {
            throw new InvalidCheckpointException(path, "mlp_bias is true: MLP biases are not implemented.");
        }

        string act = GetString(root, path, "hidden_act") ?? "silu";
        if (act != "silu")
        {
            throw new InvalidCheckpointException(path, $"hidden_act '{act}' is not supported; the feed-forward block is SwiGLU with SiLU.");
        }

        if (root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind != JsonValueKind.Null)
        {
            string kind = scaling.ValueKind == JsonValueKind.Object && scaling.TryGetProperty("rope_type", out JsonElement t) ? t.ToString()
                : scaling.ValueKind == JsonValueKind.Object && scaling.TryGetProperty("type", out JsonElement t2) ? t2.ToString() : scaling.ToString();
            throw new InvalidCheckpointException(path, $"rope_scaling ('{kind}') is not implemented; only plain RoPE is supported.");
        }

        int dim = GetInt(root, path, "hidden_size") ?? throw Missing(path, "hidden_size");
        int hidden = GetInt(root, path, "intermediate_size") ?? throw Missing(path, "intermediate_size");
        int layers = GetInt(root, path, "num_hidden_layers") ?? throw Missing(path, "num_hidden_layers");
        int heads = GetInt(root, path, "num_attention_heads") ?? throw Missing(path, "num_attention_heads");
        int kvHeads = GetInt(root, path, "num_key_value_heads") ?? heads;
        int vocab = GetInt(root, path, "vocab_size") ?? throw Missing(path, "vocab_size");
        int context = GetInt(root, path, "max_position_embeddings") ?? throw Missing(path, "max_position_embeddings");
        int? sliding = GetInt(root, path, "sliding_window");
        if (sliding is { } window && window < context)
        {
            throw new InvalidCheckpointException(path, $"sliding_window {window} is shorter than max_position_embeddings {context}; sliding-window attention is not implemented.");
        }

        foreach ((string name, int value) in new[] { ("hidden_size", dim), ("intermediate_size", hidden), ("num_hidden_layers", layers), ("num_attention_heads", heads), ("num_key_value_heads", kvHeads), ("vocab_size", vocab), ("max_position_embeddings", context) })
        {
            if (value <= 0)
            {
                throw new InvalidCheckpointException(path, $"'{name}' is {value}; it must be positive.");
            }
        }

        if (heads % kvHeads != 0)
        {
            throw new InvalidCheckpointException(path, $"num_key_value_heads {kvHeads} does not divide num_attention_heads {heads}.");
        }

        int? headDim = GetInt(root, path, "head_dim");
        if (headDim is null && dim % heads != 0)
        {
            throw new InvalidCheckpointException(path, $"hidden_size {dim} is not a multiple of num_attention_heads {heads}, and head_dim is not given.");
        }

        int hd = headDim ?? dim / heads;
        if (hd <= 0 || hd % 2 != 0)
        {
            throw new InvalidCheckpointException(path, $"head_dim {hd} must be positive and even (RoPE rotates pairs).");
        }

        double theta = GetDouble(root, path, "rope_theta") ?? 10000.0;
        double eps = GetDouble(root, path, "rms_norm_eps") ?? throw Missing(path, "rms_norm_eps");
        if (!(theta > 1) || !double.IsFinite(theta))
        {
            throw new InvalidCheckpointException(path, $"rope_theta {theta} must be finite and greater than 1.");
        }

        if (!(eps > 0) || !double.IsFinite(eps))
        {
            throw new InvalidCheckpointException(path, $"rms_norm_eps {eps} must be finite and positive.");
        }

        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, context)
        {
            HeadDim = hd,
            RopeTheta = theta,
            NormEpsilon = eps,
            RopeConvention = RopeConvention.HalfRotation,
            TiedEmbeddings = GetBool(root, path, "tie_word_embeddings") ?? false,
        };
    }

    private static InvalidCheckpointException Missing(string path, string field) =>
        new(path, $"config.json lacks the required field '{field}'.");

    private static bool TryGet(JsonElement root, string field, out JsonElement value) =>
        root.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null;

    private static string? GetString(JsonElement root, string path, string field)
    {
        if (!TryGet(root, field, out JsonElement v))
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw WrongType(path, field, "a string", v);
    }

    private static bool? GetBool(JsonElement root, string path, string field)
    {
        if (!TryGet(root, field, out JsonElement v))
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(path, field, "true or false", v),
        };
    }

    private static int? GetInt(JsonElement root, string path, string field)
    {
        if (!TryGet(root, field, out JsonElement v))
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw WrongType(path, field, "an integer", v);
    }

    private static double? GetDouble(JsonElement root, string path, string field)
    {
        if (!TryGet(root, field, out JsonElement v))
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw WrongType(path, field, "a number", v);
    }

    private static InvalidCheckpointException WrongType(string path, string field, string expected, JsonElement found) =>
        new(path, $"config.json field '{field}' must be {expected}, but is {found.ValueKind} ({Truncate(found.GetRawText())}).");

    private static string Truncate(string s) => s.Length <= 40 ? s : string.Create(CultureInfo.InvariantCulture, $"{s[..40]}…");
}
