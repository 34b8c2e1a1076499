using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Formats.HuggingFace;

/// <summary>
/// Reads a Hugging Face Llama-layout model folder: <c>config.json</c> plus either <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>; F32, F16 and BF16 weights are converted to float32 one tensor at a time from the
/// memory-mapped shards. Every tensor the model needs is checked (present, shape, dtype) when the folder is opened.
/// </summary>
public sealed class HuggingFaceCheckpointReader : ILlamaWeightSource
{
    /// <summary>The single-file weights name.</summary>
    public const string SingleFileName = SafetensorsShardSet.SingleFileName;

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = SafetensorsShardSet.IndexFileName;

    private readonly SafetensorsShardSet _shards;
    private bool _disposed;

    private HuggingFaceCheckpointReader(LlamaConfig config, SafetensorsShardSet shards, string folder)
    {
        Config = config;
        _shards = shards;
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
        SafetensorsShardSet shards = SafetensorsShardSet.Open(folder);
        try
        {
            shards.RequireFullPrecisionTensors(
                config,
                (tensor, layer) => tensor == LlamaTensor.OutputHead
                    ? "config.json says tie_word_embeddings is false"
                    : "the model needs it",
                m => new InvalidCheckpointException(folder, m));
            return new HuggingFaceCheckpointReader(config, shards, folder);
        }
        catch
        {
            shards.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string name = SafetensorsShardSet.CheckRead(Config, Folder, tensor, layer, destination.Length);
        _shards[name].ReadAsSingle(name, destination);
    }

    /// <summary>Releases every shard.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _shards.Dispose();
    }
}
