using System.Numerics.Tensors;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// A float32 CPU forward pass of a Llama-family decoder: embeddings, RMSNorm, RoPE (either convention), causal grouped-query
/// attention, SwiGLU feed-forward and output head, batched over sequences. Weights come from an <see cref="ILlamaWeightSource"/>
/// one decoder block at a time; linear inputs can be observed (<see cref="LinearInputObserver"/>) and linear weights replaced
/// (<see cref="ReplaceLinearWeights"/>). Not thread-safe: run one forward pass at a time per instance.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly ILlamaWeightSource _source;
    private readonly bool _ownsSource;
    private readonly bool _keepWeightsInMemory;
    private readonly LlamaLayerWeights?[] _layerCache;
    private readonly Dictionary<(int Layer, LlamaTensor Tensor), float[]> _replaced = [];
    private readonly float[] _cos;
    private readonly float[] _sin;
    private float[]? _embedding;
    private float[]? _outputHead;
    private float[]? _finalNorm;
    private bool _disposed;

    /// <summary>Creates a model over <paramref name="source"/>.</summary>
    /// <param name="source">The weights; the model disposes it only when <paramref name="ownsSource"/> is true.</param>
    /// <param name="keepWeightsInMemory">True to keep each block's weights after first use (fast repeated passes);
    /// false to stream every block from the source on every pass, so that only one block is resident at a time.</param>
    /// <param name="ownsSource">True when disposing the model disposes the source.</param>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is null.</exception>
    public LlamaModel(ILlamaWeightSource source, bool keepWeightsInMemory = true, bool ownsSource = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _ownsSource = ownsSource;
        _keepWeightsInMemory = keepWeightsInMemory;
        Config = source.Config;
        _layerCache = new LlamaLayerWeights?[Config.Layers];
        (_cos, _sin) = LlamaKernels.RopeTables(Config.MaxSequenceLength, Config.HeadDim, Config.RopeTheta);
    }

    /// <summary>Opens a checkpoint: a llama2.c <c>.bin</c> file or a Hugging Face folder (<c>config.json</c> + safetensors).</summary>
    /// <exception cref="ArgumentException">The path does not exist or names neither format.</exception>
    /// <exception cref="Formats.InvalidCheckpointException">The checkpoint is malformed or describes an unsupported architecture.</exception>
    public static LlamaModel Open(string path, bool keepWeightsInMemory = true) =>
        new(LlamaCheckpoint.Open(path), keepWeightsInMemory, ownsSource: true);

    /// <summary>The model description.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The weights this model reads.</summary>
    public ILlamaWeightSource Source => _source;

    /// <summary>Receives the input of every linear projection during forward passes; null for none.</summary>
    public ILinearInputObserver? LinearInputObserver { get; set; }

    /// <summary>Names of the linear modules whose weights were replaced.</summary>
    public IEnumerable<string> ReplacedModules => _replaced.Keys
        .Where(k => LlamaConfig.IsLinear(k.Tensor))
        .Select(k => Config.GetModuleName(k.Tensor, k.Layer));

    /// <summary>The current weights of a linear module (replaced ones if any), as a new matrix.</summary>
    /// <exception cref="ArgumentException"><paramref name="moduleName"/> names no linear module of this model.</exception>
    public DenseMatrix GetLinearWeights(string moduleName)
    {
        (int layer, LlamaTensor tensor) = ParseModule(moduleName, nameof(moduleName));
        (int rows, int columns) = Config.GetShape(tensor);
        return new DenseMatrix(GetWeights(tensor, layer), rows, columns);
    }

    /// <summary>A copy of any tensor's current values (replaced ones if any; a tied model's head is its embedding table).</summary>
    internal float[] GetWeights(LlamaTensor tensor, int layer)
    {
        int key = LlamaConfig.IsPerLayer(tensor) ? layer : 0;
        if (_replaced.TryGetValue((key, tensor), out float[]? replaced))
        {
            return replaced.ToArray();
        }

        if (tensor == LlamaTensor.OutputHead && Config.TiedEmbeddings)
        {
            return GetWeights(LlamaTensor.TokenEmbedding, 0);
        }

        (int rows, int columns) = Config.GetShape(tensor);
        var data = new float[rows * columns];
        _source.ReadTensor(tensor, key, data);
        return data;
    }

    /// <summary>
    /// Replaces any tensor (norm weights, embeddings, head, linears) for later forward passes; <paramref name="data"/> is kept, not
    /// copied. Replacing the head of a tied model unties it: the head then reads <paramref name="data"/>, the embedding stays.
    /// </summary>
    internal void ReplaceWeights(LlamaTensor tensor, int layer, float[] data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (int rows, int columns) = Config.GetShape(tensor);
        if (data.Length != rows * columns)
        {
            ThrowHelper.ThrowArgument(nameof(data), $"Weights for {Config.GetTensorName(tensor, layer)} must have {rows * columns} values, but {data.Length} were given.");
        }

        bool perLayer = LlamaConfig.IsPerLayer(tensor);
        _replaced[(perLayer ? layer : 0, tensor)] = data;
        if (perLayer && _layerCache[layer] is { } cached)
        {
            cached[tensor] = data;
        }

        switch (tensor)
        {
            case LlamaTensor.TokenEmbedding: _embedding = null; break;
            case LlamaTensor.OutputHead: _outputHead = null; break;
            case LlamaTensor.FinalNorm: _finalNorm = null; break;
        }
    }

    /// <summary>Replaces a linear module's weights (e.g. by dequantized ones) for all later forward passes; the values are copied.</summary>
    /// <exception cref="ArgumentException"><paramref name="moduleName"/> names no linear module, or <paramref name="weights"/> has the wrong shape.</exception>
    public void ReplaceLinearWeights(string moduleName, DenseMatrix weights)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (int layer, LlamaTensor tensor) = ParseModule(moduleName, nameof(moduleName));
        (int rows, int columns) = Config.GetShape(tensor);
        if (weights.Rows != rows || weights.Columns != columns)
        {
            ThrowHelper.ThrowArgument(nameof(weights), $"Weights for '{moduleName}' must be [{rows}, {columns}], but [{weights.Rows}, {weights.Columns}] were given.");
        }

        ReplaceWeights(tensor, layer, weights.Data.ToArray());
    }

    /// <summary>Restores the checkpoint's weights for every replaced tensor.</summary>
    public void ClearReplacedWeights()
    {
        _replaced.Clear();
        Array.Clear(_layerCache);
        _embedding = _outputHead = _finalNorm = null;
    }

    /// <summary>Logits at every position of one sequence: <c>tokens.Length × VocabSize</c>, row-major.</summary>
    /// <exception cref="ArgumentException">The sequence is empty or longer than the context.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside [0, VocabSize).</exception>
    public float[] Forward(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default) =>
        Forward([tokens.ToArray()], cancellationToken)[0];

    /// <summary>
    /// Logits at every position of each sequence (full-sequence prefill), computed as one batch: the linear layers run over all
    /// tokens of all sequences at once; attention stays within each sequence, with a causal mask and positions from 0.
    /// </summary>
    /// <returns>One array per sequence, <c>length × VocabSize</c>, row-major.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sequences"/> or one of them is null.</exception>
    /// <exception cref="ArgumentException">No sequences, or a sequence is empty or longer than <see cref="LlamaConfig.MaxSequenceLength"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside [0, VocabSize).</exception>
    /// <exception cref="OperationCanceledException">Cancelled (checked between blocks).</exception>
    public float[][] Forward(IReadOnlyList<int[]> sequences, CancellationToken cancellationToken = default)
    {
        var batch = Prepare(sequences);
        float[] x = Embed(batch);
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            RunBlock(layer, x, batch);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return Head(x, batch);
    }

    /// <summary>Validates a batch of sequences and lays it out (starts, lengths, positions).</summary>
    internal LlamaBatch Prepare(IReadOnlyList<int[]> sequences)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(sequences), "At least one sequence is required.");
        }

        var starts = new int[sequences.Count];
        var lengths = new int[sequences.Count];
        int total = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            int[]? seq = sequences[s];
            if (seq is null)
            {
                throw new ArgumentNullException(nameof(sequences), $"Sequence {s} is null.");
            }

            if (seq.Length == 0 || seq.Length > Config.MaxSequenceLength)
            {
                ThrowHelper.ThrowArgument(nameof(sequences), $"Sequence {s} has {seq.Length} tokens; it must have 1 to {Config.MaxSequenceLength} (the model's context).");
            }

            for (int i = 0; i < seq.Length; i++)
            {
                if ((uint)seq[i] >= (uint)Config.VocabSize)
                {
                    ThrowHelper.ThrowArgumentOutOfRange(nameof(sequences), seq[i], $"Token id {seq[i]} at position {i} of sequence {s} is outside the vocabulary [0, {Config.VocabSize}).");
                }
            }

            starts[s] = total;
            lengths[s] = seq.Length;
            total = checked(total + seq.Length);
        }

        var positions = new int[total];
        for (int s = 0; s < sequences.Count; s++)
        {
            for (int i = 0; i < lengths[s]; i++)
            {
                positions[starts[s] + i] = i;
            }
        }

        return new LlamaBatch(sequences, starts, lengths, positions, total);
    }

    /// <summary>The token embeddings of a batch: the residual stream entering block 0 (total × dim).</summary>
    internal float[] Embed(LlamaBatch batch)
    {
        int dim = Config.Dim;
        float[] embedding = GetGlobal(LlamaTensor.TokenEmbedding, ref _embedding);
        var x = new float[batch.Total * dim];
        for (int s = 0; s < batch.Sequences.Count; s++)
        {
            for (int i = 0; i < batch.Lengths[s]; i++)
            {
                embedding.AsSpan(batch.Sequences[s][i] * dim, dim).CopyTo(x.AsSpan((batch.Starts[s] + i) * dim, dim));
            }
        }

        if (!_keepWeightsInMemory)
        {
            _embedding = null;
        }

        return x;
    }

    /// <summary>Runs decoder block <paramref name="layer"/> in place on the residual stream <paramref name="x"/> (total × dim).</summary>
    /// <param name="layer">The block.</param>
    /// <param name="x">The residual stream.</param>
    /// <param name="batch">The batch layout.</param>
    /// <param name="stopAtInputOf">For calibration captures: return as soon as this projection's input has been observed, skipping
    /// the rest of the block (<paramref name="x"/> is then left partly updated); null to run the whole block.</param>
    internal void RunBlock(int layer, float[] x, LlamaBatch batch, LlamaTensor? stopAtInputOf = null)
    {
        LlamaConfig c = Config;
        int total = batch.Total, dim = c.Dim;
        float eps = (float)c.NormEpsilon;
        var xb = new float[total * dim];
        var q = new float[total * c.QueryDim];
        var k = new float[total * c.KvDim];
        var v = new float[total * c.KvDim];
        var att = new float[total * c.QueryDim];
        var proj = new float[total * dim];
        var gate = new float[total * c.HiddenDim];
        var up = new float[total * c.HiddenDim];
        LlamaLayerWeights w = GetLayer(layer);

        LlamaKernels.RmsNorm(x, total, dim, w[LlamaTensor.AttentionNorm], eps, xb);
        if (Linear(layer, LlamaTensor.QueryProjection, xb, total, w, q, stopAtInputOf)
            || Linear(layer, LlamaTensor.KeyProjection, xb, total, w, k, stopAtInputOf)
            || Linear(layer, LlamaTensor.ValueProjection, xb, total, w, v, stopAtInputOf))
        {
            return;
        }

        LlamaKernels.ApplyRope(q, total, c.Heads, c.HeadDim, batch.Positions, _cos, _sin, c.RopeConvention);
        LlamaKernels.ApplyRope(k, total, c.KvHeads, c.HeadDim, batch.Positions, _cos, _sin, c.RopeConvention);
        LlamaKernels.Attention(q, k, v, batch.Starts, batch.Lengths, c.Heads, c.KvHeads, c.HeadDim, att);
        if (Linear(layer, LlamaTensor.OutputProjection, att, total, w, proj, stopAtInputOf))
        {
            return;
        }

        TensorPrimitives.Add(x, proj, x);

        LlamaKernels.RmsNorm(x, total, dim, w[LlamaTensor.FeedForwardNorm], eps, xb);
        if (Linear(layer, LlamaTensor.GateProjection, xb, total, w, gate, stopAtInputOf)
            || Linear(layer, LlamaTensor.UpProjection, xb, total, w, up, stopAtInputOf))
        {
            return;
        }

        LlamaKernels.SwiGlu(gate, up);
        if (Linear(layer, LlamaTensor.DownProjection, gate, total, w, proj, stopAtInputOf))
        {
            return;
        }

        TensorPrimitives.Add(x, proj, x);
    }

    /// <summary>Final norm and output head: logits per sequence.</summary>
    internal float[][] Head(float[] x, LlamaBatch batch)
    {
        LlamaConfig c = Config;
        int total = batch.Total, dim = c.Dim;
        var xb = new float[total * dim];
        float[] finalNorm = GetGlobal(LlamaTensor.FinalNorm, ref _finalNorm);
        LlamaKernels.RmsNorm(x, total, dim, finalNorm, (float)c.NormEpsilon, xb);
        float[] head = c.TiedEmbeddings && !_replaced.ContainsKey((0, LlamaTensor.OutputHead))
            ? GetGlobal(LlamaTensor.TokenEmbedding, ref _embedding)
            : GetGlobal(LlamaTensor.OutputHead, ref _outputHead);
        var logits = new float[total * c.VocabSize];
        LlamaKernels.MatMulTransposed(xb, total, dim, head, c.VocabSize, logits);
        if (!_keepWeightsInMemory)
        {
            _embedding = null;
            _outputHead = null;
            _finalNorm = null;
        }

        var result = new float[batch.Sequences.Count][];
        for (int s = 0; s < batch.Sequences.Count; s++)
        {
            result[s] = logits.AsSpan(batch.Starts[s] * c.VocabSize, batch.Lengths[s] * c.VocabSize).ToArray();
        }

        return result;
    }

    /// <summary>Disposes the weight source when the model owns it.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_ownsSource)
        {
            _source.Dispose();
        }
    }

    /// <summary>Observes the input, then computes the projection unless it is <paramref name="stopAt"/> (then returns true).</summary>
    private bool Linear(int layer, LlamaTensor tensor, float[] input, int tokens, LlamaLayerWeights w, float[] output, LlamaTensor? stopAt)
    {
        (int rows, int columns) = Config.GetShape(tensor);
        LinearInputObserver?.OnLinearInput(layer, Config.GetModuleName(tensor, layer), tensor, new DenseMatrix(input.AsMemory(0, tokens * columns), tokens, columns));
        if (tensor == stopAt)
        {
            return true;
        }

        LlamaKernels.MatMulTransposed(input, tokens, columns, w[tensor], rows, output);
        return false;
    }

    private LlamaLayerWeights GetLayer(int layer)
    {
        if (_layerCache[layer] is { } cached)
        {
            return cached;
        }

        LlamaLayerWeights weights = LlamaLayerWeights.Read(_source, layer);
        foreach (var ((l, tensor), replaced) in _replaced)
        {
            if (l == layer && LlamaConfig.IsPerLayer(tensor))
            {
                weights[tensor] = replaced;
            }
        }

        if (_keepWeightsInMemory)
        {
            _layerCache[layer] = weights;
        }

        return weights;
    }

    private float[] GetGlobal(LlamaTensor tensor, ref float[]? slot)
    {
        if (slot is null && _replaced.TryGetValue((0, tensor), out float[]? replaced))
        {
            slot = replaced;
        }
        else if (slot is null)
        {
            (int rows, int columns) = Config.GetShape(tensor);
            var data = new float[rows * columns];
            _source.ReadTensor(tensor, 0, data);
            slot = data;
        }

        return slot;
    }

    private (int Layer, LlamaTensor Tensor) ParseModule(string moduleName, string paramName)
    {
        ArgumentNullException.ThrowIfNull(moduleName, paramName);
        if (!Config.TryParseModuleName(moduleName, out int layer, out LlamaTensor tensor))
        {
            ThrowHelper.ThrowArgument(paramName, $"'{moduleName}' is not a linear module of this model (expected e.g. 'model.layers.0.self_attn.q_proj', layers 0..{Config.Layers - 1}).");
        }

        return (layer, tensor);
    }
}
