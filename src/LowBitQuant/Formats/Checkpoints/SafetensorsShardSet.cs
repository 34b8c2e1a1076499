using System.Text.Json;
using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>The safetensors files of a model folder (<c>model.safetensors</c>, or the shards named by <c>model.safetensors.index.json</c>) and which holds each tensor.</summary>
internal sealed class SafetensorsShardSet : IDisposable
{
    private readonly List<SafetensorsReader> _shards;
    private readonly Dictionary<string, SafetensorsReader> _byTensor;

    private SafetensorsShardSet(List<SafetensorsReader> shards, Dictionary<string, SafetensorsReader> byTensor)
    {
        _shards = shards;
        _byTensor = byTensor;
    }

    /// <exception cref="FileNotFoundException">Neither the single file nor the index exists, or a shard is missing.</exception>
    /// <exception cref="InvalidCheckpointException">The index is malformed or maps a tensor to a shard that lacks it.</exception>
    public static SafetensorsShardSet Open(string folder)
    {
        var shards = new List<SafetensorsReader>();
        var byTensor = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
        try
        {
            string indexPath = Path.Combine(folder, "model.safetensors.index.json");
            string singlePath = Path.Combine(folder, "model.safetensors");
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
                        throw new InvalidCheckpointException(shard.FilePath, $"the index maps tensor '{tensor}' to this shard, but the shard does not contain it.");
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
                throw new FileNotFoundException($"Model folder '{folder}' has neither model.safetensors nor model.safetensors.index.json.", singlePath);
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
                string? file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                if (string.IsNullOrEmpty(file) || Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal) || file.Contains('/') || file.Contains('\\'))
                {
                    throw new InvalidCheckpointException(indexPath, $"weight_map entry '{p.Name}' must name a shard file in the model folder.");
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
