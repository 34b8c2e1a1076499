using System.Text.Json;
using System.Text.Json.Nodes;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>Builds a Hugging Face Llama <c>config.json</c> from a <see cref="LlamaConfig"/> (half-rotation row order).</summary>
internal static class HuggingFaceConfigBuilder
{
    public static JsonObject Build(LlamaConfig config, JsonNode? bosTokenId, JsonNode? eosTokenId, string torchDType)
    {
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = config.Dim,
            ["intermediate_size"] = config.HiddenDim,
            ["num_hidden_layers"] = config.Layers,
            ["num_attention_heads"] = config.Heads,
            ["num_key_value_heads"] = config.KvHeads,
            ["head_dim"] = config.HeadDim,
            ["vocab_size"] = config.VocabSize,
            ["max_position_embeddings"] = config.MaxSequenceLength,
            ["rms_norm_eps"] = config.NormEpsilon,
            ["rope_theta"] = config.RopeTheta,
            ["rope_scaling"] = null,
            ["hidden_act"] = "silu",
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["tie_word_embeddings"] = config.TiedEmbeddings,
            ["torch_dtype"] = torchDType,
        };
        if (bosTokenId is not null)
        {
            root["bos_token_id"] = bosTokenId.DeepClone();
        }

        if (eosTokenId is not null)
        {
            root["eos_token_id"] = eosTokenId.DeepClone();
        }

        return root;
    }

    /// <summary>Reads <c>bos_token_id</c> and <c>eos_token_id</c> from a model folder's config.json, when present.</summary>
    public static (JsonNode? Bos, JsonNode? Eos) ReadTokenIds(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path))
        {
            return (null, null);
        }

        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
            return (root?["bos_token_id"]?.DeepClone(), root?["eos_token_id"]?.DeepClone());
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    public static string ToText(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
}
