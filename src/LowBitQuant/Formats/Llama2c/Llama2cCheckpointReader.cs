using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Llama2c;

/// <summary>
/// Reads a llama2.c legacy ("version 0") checkpoint: a header of 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size, seq_len; negative vocab_size = untied classifier), then fp32 tensors in a fixed order. The file is
/// memory-mapped and tensors are copied one at a time on demand. The q/k rows keep llama2.c's order, so the configuration says
/// <see cref="RopeConvention.AdjacentPairs"/>; θ = 10000 and ε = 1e-5 as in <c>run.c</c>.
/// </summary>
public sealed unsafe class Llama2cCheckpointReader : ILlamaWeightSource
{
    /// <summary>The magic number (<c>"ak42"</c>) that starts newer llama2.c exports, which this reader does not read.</summary>
    public const uint NewFormatMagic = 0x616B3432;

    private const int HeaderBytes = 7 * sizeof(int);

    private readonly string _path;
    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly Dictionary<LlamaTensor, long> _offsets = [];
    private bool _disposed;

    private Llama2cCheckpointReader(string path, MappedFile file, LlamaConfig config)
    {
        _path = path;
        _file = file;
        Config = config;
        _base = file.Pointer;

        // Tensor order of the legacy format; per-layer tensors are stored as [layers, rows, cols] blocks.
        long offset = HeaderBytes;
        foreach (LlamaTensor t in new[]
        {
            LlamaTensor.TokenEmbedding, LlamaTensor.AttentionNorm, LlamaTensor.QueryProjection, LlamaTensor.KeyProjection,
            LlamaTensor.ValueProjection, LlamaTensor.OutputProjection, LlamaTensor.FeedForwardNorm, LlamaTensor.GateProjection,
            LlamaTensor.DownProjection, LlamaTensor.UpProjection, LlamaTensor.FinalNorm,
        })
        {
            _offsets[t] = offset;
            offset += ElementCount(config, t) * sizeof(float);
        }

        offset += 2L * LegacyRopeTableFloats(config) * sizeof(float);
        if (!config.TiedEmbeddings)
        {
            _offsets[LlamaTensor.OutputHead] = offset;
        }
    }

    /// <summary>The model description read from the header.</summary>
    public LlamaConfig Config { get; }

    /// <summary>Opens and validates a checkpoint.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidCheckpointException">The header is invalid, the file is a newer (magic "ak42") export, or the size
    /// differs from the size the header implies.</exception>
    public static Llama2cCheckpointReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"llama2.c checkpoint '{path}' not found.", path);
        }

        long length = new FileInfo(path).Length;
        Span<byte> header = stackalloc byte[HeaderBytes];
        using (FileStream stream = File.OpenRead(path))
        {
            if (length >= 4)
            {
                stream.ReadExactly(header[..4]);
                if (BinaryPrimitives.ReadUInt32LittleEndian(header) == NewFormatMagic)
                {
                    throw new InvalidCheckpointException(path, "this is a newer llama2.c export (magic \"ak42\", version ≥ 1); only the legacy version-0 format is supported.");
                }
            }

            if (length < HeaderBytes)
            {
                throw new InvalidCheckpointException(path, $"the file has {length} bytes, fewer than the {HeaderBytes}-byte header.");
            }

            stream.ReadExactly(header[4..]);
        }

        var h = new int[7];
        for (int i = 0; i < 7; i++)
        {
            h[i] = BinaryPrimitives.ReadInt32LittleEndian(header[(i * 4)..]);
        }

        string[] names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
        for (int i = 0; i < 7; i++)
        {
            if (h[i] == 0 || (h[i] < 0 && i != 5) || h[i] == int.MinValue)
            {
                throw new InvalidCheckpointException(path, $"header field '{names[i]}' is {h[i]}; it must be positive (vocab_size may be negative for an untied classifier).");
            }
        }

        if (h[0] % h[3] != 0 || (h[0] / h[3]) % 2 != 0)
        {
            throw new InvalidCheckpointException(path, $"dim {h[0]} must be a multiple of n_heads {h[3]} with an even head size.");
        }

        if (h[3] % h[4] != 0)
        {
            throw new InvalidCheckpointException(path, $"n_kv_heads {h[4]} must divide n_heads {h[3]}.");
        }

        var config = new LlamaConfig(h[0], h[1], h[2], h[3], h[4], Math.Abs(h[5]), h[6])
        {
            RopeConvention = RopeConvention.AdjacentPairs,
            RopeTheta = 10000.0,
            NormEpsilon = 1e-5,
            TiedEmbeddings = h[5] > 0,
        };

        long floats = 0;
        foreach (LlamaTensor t in Enum.GetValues<LlamaTensor>())
        {
            if (t != LlamaTensor.OutputHead || !config.TiedEmbeddings)
            {
                floats += ElementCount(config, t);
            }
        }

        floats += 2L * LegacyRopeTableFloats(config);
        long expected = HeaderBytes + (floats * sizeof(float));
        if (length != expected)
        {
            throw new InvalidCheckpointException(path, $"the header ({config}) implies {expected} bytes, but the file has {length}.");
        }

        MappedFile file = MappedFile.Open(path);
        try
        {
            return new Llama2cCheckpointReader(path, file, config);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void ReadTensor(LlamaTensor tensor, int layer, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tensor == LlamaTensor.OutputHead && Config.TiedEmbeddings)
        {
            ThrowHelper.ThrowArgument(nameof(tensor), $"'{_path}' has a tied classifier: read {nameof(LlamaTensor.TokenEmbedding)} instead.");
        }

        if (!_offsets.TryGetValue(tensor, out long offset))
        {
            throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "Unknown tensor role.");
        }

        (int rows, int columns) = Config.GetShape(tensor);
        int count = rows * columns;
        if (destination.Length != count)
        {
            ThrowHelper.ThrowArgument(nameof(destination), $"Tensor {tensor} holds {count} elements; the destination has {destination.Length}.");
        }

        if (LlamaConfig.IsPerLayer(tensor))
        {
            if ((uint)layer >= (uint)Config.Layers)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(layer), layer, $"Layer must be in [0, {Config.Layers}).");
            }

            offset += (long)layer * count * sizeof(float);
        }

        var source = new ReadOnlySpan<byte>(_base + offset, count * sizeof(float));
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
            }
        }
    }

    /// <summary>Releases the mapping.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _file.Dispose();
    }

    private static long ElementCount(LlamaConfig config, LlamaTensor tensor)
    {
        (int rows, int columns) = config.GetShape(tensor);
        return (long)rows * columns * (LlamaConfig.IsPerLayer(tensor) ? config.Layers : 1);
    }

    private static long LegacyRopeTableFloats(LlamaConfig config) => (long)config.MaxSequenceLength * config.HeadDim / 2;
}
