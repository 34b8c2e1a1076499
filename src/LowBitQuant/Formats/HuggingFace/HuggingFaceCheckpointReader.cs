using System.Text.Json;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.HuggingFace;

/// <summary>
/// Reads a Hugging Face Llama-layout model folder: <c>config.json</c> plus either <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>; F32, F16 and BF16 weights are converted to float32 one tensor at a time from the
/// memory-mapped shards. Every tensor the model needs is checked (present, shape, dtype) when the folder is opened.
/// </summary>
public sealed class HuggingFaceCheckpointReader : ILlamaWeightSource
{
    /// <summary>The single-file weights name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsReader> _shards;
    private readonly Dictionary<string, SafetensorsReader> _byTensor;
    private bool _disposed;

    private HuggingFaceCheckpointReader(LlamaConfig config, List<SafetensorsReader> shards, Dictionary<string, SafetensorsReader> byTensor, string folder)
    {
        Config = config;
        _shards = shards;
        _byTensor = byTensor;
        Folder = folder;
    }

    /// <summary>The model description from <c>config.json</c>.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>Opens and validates a model folder.</summary>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c>, the weights or a shard named by the index is missing.</exception>
    /// <exception cref="InvalidCheckpointException">The configuration is invalid or unsupported; the index is malformed; a tensor
    /// is missing, has the wrong shape (the message names the tensor, the expected and the found shape) or a dtype other than
    /// F32/F16/BF16.</exception>
    /// <exception cref="InvalidSafetensorsException">A shard is not a valid safetensors file.</exception>
    public static HuggingFaceCheckpointReader Open(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Model folder '{folder}' not found.");
        }

        LlamaConfig config = HuggingFaceLlamaConfig.Load(Path.Combine(folder, "config.json"));
        var shards = new List<SafetensorsReader>();
        var byTensor = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
        try
        {
            string indexPath = Path.Combine(folder, IndexFileName);
            string singlePath = Path.Combine(folder, SingleFileName);
            if (File.Exists(indexPath))
            {
                Dictionary<string, string> weightMap = ReadWeightMap(indexPath);
                var opened = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
                foreach ((string tensor, string file) in weightMap)
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

            var result = new HuggingFaceCheckpointReader(config, shards, byTensor, folder);
            result.ValidateTensors();
            return result;
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

    /// <inheritdoc />
    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tensor == LlamaTensor.OutputHead && Config.TiedEmbeddings)
        {
            ThrowHelper.ThrowArgument(nameof(tensor), $"'{Folder}' ties the output head to the embedding: read {nameof(LlamaTensor.TokenEmbedding)} instead.");
        }

        string name = Config.GetTensorName(tensor, layer);
        (int rows, int columns) = Config.GetShape(tensor);
        if (destination.Length != rows * columns)
        {
            ThrowHelper.ThrowArgument(nameof(destination), $"Tensor '{name}' holds {rows * columns} elements; the destination has {destination.Length}.");
        }

        _byTensor[name].ReadAsSingle(name, destination);
    }

    /// <summary>Releases every shard.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (SafetensorsReader shard in _shards)
        {
            shard.Dispose();
        }
    }

    private void ValidateTensors()
    {
        foreach (LlamaTensor tensor in Enum.GetValues<LlamaTensor>())
        {
            if (tensor == LlamaTensor.OutputHead && Config.TiedEmbeddings)
            {
                continue;
            }

            int layers = LlamaConfig.IsPerLayer(tensor) ? Config.Layers : 1;
            for (int layer = 0; layer < layers; layer++)
            {
                string name = Config.GetTensorName(tensor, layer);
                (int rows, int columns) = Config.GetShape(tensor);
                long[] expected = tensor is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm ? [columns] : [rows, columns];
                if (!_byTensor.TryGetValue(name, out SafetensorsReader? shard))
                {
                    string hint = tensor == LlamaTensor.OutputHead ? " (config.json says tie_word_embeddings is false)" : string.Empty;
                    throw new InvalidCheckpointException(Folder, $"tensor '{name}' [{string.Join(", ", expected)}] is missing{hint}.");
                }

                SafetensorsTensorInfo info = shard.Tensors[name];
                long[] found = [.. info.Shape];
                if (!found.AsSpan().SequenceEqual(expected))
                {
                    throw new InvalidCheckpointException(shard.FilePath, $"tensor '{name}' has shape [{string.Join(", ", found)}], but config.json implies [{string.Join(", ", expected)}].");
                }

                if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
                {
                    throw new InvalidCheckpointException(shard.FilePath, $"tensor '{name}' has dtype {info.DType}; only F32, F16 and BF16 weights are read (packed quantized checkpoints need their own reader).");
                }
            }
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
