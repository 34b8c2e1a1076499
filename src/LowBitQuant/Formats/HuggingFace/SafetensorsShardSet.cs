using System.Text.Json;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.HuggingFace;

/// <summary>
/// The safetensors files of a Hugging Face model folder (<c>model.safetensors</c>, or the shards named by
/// <c>model.safetensors.index.json</c>) and which holds each tensor; shared by the full-precision and the quantized checkpoint readers.
/// </summary>
internal sealed class SafetensorsShardSet : IDisposable
{
    /// <summary>The single-file weights name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsReader> _shards;
    private readonly Dictionary<string, SafetensorsReader> _byTensor;

    private SafetensorsShardSet(List<SafetensorsReader> shards, Dictionary<string, SafetensorsReader> byTensor)
    {
        _shards = shards;
        _byTensor = byTensor;
    }

    /// <summary>Opens the weights of <paramref name="folder"/>: the index and every shard it names, or the single file.</summary>
    /// <exception cref="FileNotFoundException">Neither the single file nor the index exists, or a shard is missing.</exception>
    /// <exception cref="InvalidCheckpointException">The index is malformed or maps a tensor to a shard that lacks it.</exception>
    /// <exception cref="InvalidSafetensorsException">A shard is not a valid safetensors file.</exception>
    public static SafetensorsShardSet Open(string folder)
    {
        var shards = new List<SafetensorsReader>();
        var byTensor = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
        try
        {
            string indexPath = Path.Combine(folder, IndexFileName);
            string singlePath = Path.Combine(folder, SingleFileName);
            if (File.Exists(indexPath))
            {
                var opened = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
                foreach ((string tensor, string file) in ReadWeightMap(indexPath))
                {
                    if (!opened.TryGetValue(file, out SafetensorsReader? shard))
                    {
                        string shardPath = Path.Combine(folder, file);
                        if (!File.Exists(shardPath))
                        {
                            throw new FileNotFoundException($"{indexPath}: shard '{file}' (holding '{tensor}') not found.", shardPath);
                        }

                        shard = SafetensorsReader.Open(shardPath);
                        opened[file] = shard;
                        shards.Add(shard);
                    }

                    if (!shard.Tensors.ContainsKey(tensor))
                    {
                        throw new InvalidCheckpointException(Path.Combine(folder, file), $"the index maps tensor '{tensor}' to this shard, but the shard does not contain it.");
                    }

                    byTensor[tensor] = shard;
                }
            }
            else if (File.Exists(singlePath))
            {
                SafetensorsReader reader = SafetensorsReader.Open(singlePath);
                shards.Add(reader);
                foreach (string name in reader.Tensors.Keys)
                {
                    byTensor[name] = reader;
                }
            }
            else
            {
                throw new FileNotFoundException($"Model folder '{folder}' has neither {SingleFileName} nor {IndexFileName}.", singlePath);
            }

            return new SafetensorsShardSet(shards, byTensor);
        }
        catch
        {
            foreach (SafetensorsReader shard in shards)
            {
                shard.Dispose();
            }

            throw;
        }
    }

    /// <summary>The tensor's description, or null when no shard holds it.</summary>
    public SafetensorsTensorInfo? Find(string name) => _byTensor.TryGetValue(name, out SafetensorsReader? r) ? r.Tensors[name] : null;

    /// <summary>The shard holding <paramref name="name"/>.</summary>
    public SafetensorsReader this[string name] => _byTensor[name];

    /// <summary>
    /// The description of tensor <paramref name="name"/>, after checking that it exists, has shape <paramref name="expected"/> and,
    /// when <paramref name="dtype"/> is given, that dtype; a failure is reported through <paramref name="fail"/>.
    /// </summary>
    /// <param name="name">The tensor.</param>
    /// <param name="dtype">The required dtype, or null to leave the dtype to the caller.</param>
    /// <param name="expected">The required shape.</param>
    /// <param name="why">Why the tensor must exist (the message reads "<c>{why}, but tensor … is missing.</c>").</param>
    /// <param name="source">What implies the shape (the message reads "<c>… but {source} implies […]</c>").</param>
    /// <param name="fail">Makes the exception from the message.</param>
    public SafetensorsTensorInfo Require(string name, SafetensorsDType? dtype, long[] expected, string why, string source, Func<string, Exception> fail)
    {
        SafetensorsTensorInfo info = Find(name) ?? throw fail($"{why}, but tensor '{name}' [{string.Join(", ", expected)}] is missing.");
        if (!info.Shape.AsSpan().SequenceEqual(expected))
        {
            throw fail($"tensor '{name}' has shape [{string.Join(", ", info.Shape)}], but {source} implies [{string.Join(", ", expected)}].");
        }

        if (dtype is SafetensorsDType d && info.DType != d)
        {
            throw fail($"tensor '{name}' has dtype {info.DType}; {d} is required.");
        }

        return info;
    }

    /// <summary>
    /// Checks every full-precision tensor of a Llama model (each tensor of <see cref="LlamaTensor"/> and layer, but the output head
    /// when it is tied to the embedding): present, with the shape <c>config.json</c> implies, and F32, F16 or BF16.
    /// </summary>
    /// <param name="config">The model.</param>
    /// <param name="why">Why the tensor must exist in full precision (see <see cref="Require"/>), or null to skip it (a quantized module).</param>
    /// <param name="fail">Makes the exception from the message.</param>
    public void RequireFullPrecisionTensors(LlamaConfig config, Func<LlamaTensor, int, string?> why, Func<string, Exception> fail)
    {
        foreach (LlamaTensor tensor in Enum.GetValues<LlamaTensor>())
        {
            if (tensor == LlamaTensor.OutputHead && config.TiedEmbeddings)
            {
                continue;
            }

            int layers = LlamaConfig.IsPerLayer(tensor) ? config.Layers : 1;
            for (int layer = 0; layer < layers; layer++)
            {
                if (why(tensor, layer) is not string reason)
                {
                    continue;
                }

                string name = config.GetTensorName(tensor, layer);
                (int rows, int columns) = config.GetShape(tensor);
                long[] expected = tensor is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm ? [columns] : [rows, columns];
                SafetensorsTensorInfo info = Require(name, null, expected, reason, "config.json", fail);
                if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
                {
                    throw fail($"tensor '{name}' has dtype {info.DType}; full-precision tensors must be F32, F16 or BF16.");
                }
            }
        }
    }

    /// <summary>
    /// Checks a <see cref="ILlamaWeightSource.ReadTensor"/> call: the output head is not read when it is tied to the embedding,
    /// and the destination holds exactly the tensor; returns the tensor's name.
    /// </summary>
    /// <exception cref="ArgumentException">The call breaks one of those rules (paramName <c>tensor</c> or <c>destination</c>).</exception>
    public static string CheckRead(LlamaConfig config, string folder, LlamaTensor tensor, int layer, int destinationLength)
    {
        if (tensor == LlamaTensor.OutputHead && config.TiedEmbeddings)
        {
            ThrowHelper.ThrowArgument(nameof(tensor), $"'{folder}' ties the output head to the embedding: read {nameof(LlamaTensor.TokenEmbedding)} instead.");
        }

        string name = config.GetTensorName(tensor, layer);
        (int rows, int columns) = config.GetShape(tensor);
        if (destinationLength != rows * columns)
        {
            ThrowHelper.ThrowArgument("destination", $"Tensor '{name}' holds {rows * columns} elements; the destination has {destinationLength}.");
        }

        return name;
    }

    /// <summary>Releases every shard.</summary>
    public void Dispose()
    {
        foreach (SafetensorsReader shard in _shards)
        {
            shard.Dispose();
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidCheckpointException(indexPath, "the index has no 'weight_map' object.");
            }

            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(p.Value.GetString()))
                {
                    throw new InvalidCheckpointException(indexPath, $"weight_map entry '{p.Name}' must name a shard file.");
                }

                string file = p.Value.GetString()!;
                if (Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal) || file.Contains('/') || file.Contains('\\'))
                {
                    throw new InvalidCheckpointException(indexPath, $"weight_map entry '{p.Name}' names '{file}', which is not a file in the model folder.");
                }

                result[p.Name] = file;
            }

            return result;
        }
        catch (JsonException ex)
        {
            throw new InvalidCheckpointException(indexPath, $"the index is not valid JSON: {ex.Message}", ex);
        }
    }
}
