using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LowBitQuant.Formats.CompressedTensors;
using LowBitQuant.Formats.DashQ;
using LowBitQuant.Formats.Gptq;
using LowBitQuant.Formats.HuggingFace;
using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// Writes a quantized Llama-family model as a Hugging Face checkpoint folder that other tools load: <c>config.json</c>, safetensors
/// (sharded with <c>model.safetensors.index.json</c> when large), the format's configuration and copied tokenizer files. Read it
/// back with <see cref="QuantizedCheckpointReader"/> (or <see cref="LlamaCheckpoint.Open"/>).
/// </summary>
/// <remarks>
/// <para>Every module is checked before anything is written. A module whose shape the format cannot hold by construction (GPTQ:
/// in or out channels not a multiple of 32) is written in full precision from the source, listed in
/// <see cref="QuantizedCheckpointSummary.ExcludedModules"/> and declared in the configuration (GPTQ <c>dynamic</c> <c>-:</c>
/// entries, compressed-tensors <c>ignore</c>, absent from DASH-Q's <c>quantized_modules</c>); never padded. Any other module
/// the format cannot represent (real-valued zeros in GPTQ, input transforms, a group size that does not divide the row, …) is an
/// error naming the module and the reason.</para>
/// <para>A llama2.c source (<see cref="RopeConvention.AdjacentPairs"/>) is converted to Hugging Face's half rotation: the rows of
/// q/k (full-precision tensors and quantized codes, scales and zeros alike) are permuted per head (formats/llama2c.md §3).</para>
/// <para>Non-quantized tensors (embeddings, norms, an untied head, excluded linears) are stored as F32. The folder is built beside
/// the target and renamed into place: on failure or cancellation nothing is left behind.</para>
/// </remarks>
public static class QuantizedCheckpointWriter
{
    /// <summary>GPTQ's standalone configuration file (same content as <c>config.json["quantization_config"]</c>).</summary>
    public const string GptqConfigFileName = "quantize_config.json";

    /// <summary>The DASH-Q packed format's module list.</summary>
    public const string DashQConfigFileName = "dashq_config.json";

    /// <summary>The label <see cref="QuantizedCheckpointSummary.FormatLabel"/> gives compressed-tensors output.</summary>
    public const string CompressedTensorsLabel = "compressed-tensors pack-quantized";

    private const string WeightsFileName = "model.safetensors";
    private const string IndexFileName = "model.safetensors.index.json";
    private const string ConfigFileName = "config.json";

    /// <summary>Writes <paramref name="modules"/> and the rest of <paramref name="source"/> as a quantized checkpoint folder.</summary>
    /// <param name="source">The full-precision model (Hugging Face or llama2.c); its tensors are read one at a time.</param>
    /// <param name="modules">
    /// Module name (<c>model.layers.{l}.self_attn.q_proj</c>, …) → its quantized weights [out, in] in the source's row order. Linear
    /// modules not in the dictionary are written in full precision and listed as excluded.
    /// </param>
    /// <param name="format">The layout for the quantized modules.</param>
    /// <param name="outputDirectory">The folder to create; must not exist, be empty, or <see cref="QuantizedCheckpointOptions.Overwrite"/> be set.</param>
    /// <param name="options">Labels, extra files, shard size, overwrite; <see langword="null"/> for <see cref="QuantizedCheckpointOptions.Default"/>.</param>
    /// <param name="cancellationToken">Checked between tensors and shards; cancellation leaves nothing behind.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="modules"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="format"/> is undefined, or <see cref="QuantizedCheckpointOptions.MaxShardBytes"/> is not positive.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="outputDirectory"/> is empty, a file, the source's own folder, or a non-empty folder without Overwrite;
    /// <paramref name="modules"/> names a module the model does not have, holds a tensor of the wrong shape, a tensor the format
    /// cannot represent (the message names the module and the reason), tensors that one configuration cannot describe, or nothing
    /// storable; an extra file's name collides with a file the checkpoint writes.
    /// </exception>
    /// <exception cref="FileNotFoundException">An extra file does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested; no folder was created or changed.</exception>
    /// <exception cref="IOException">Writing failed; no partial folder is left.</exception>
    public static QuantizedCheckpointSummary Write(
        ILlamaWeightSource source,
        IReadOnlyDictionary<string, QuantizedTensor> modules,
        QuantizedCheckpointFormat format,
        string outputDirectory,
        QuantizedCheckpointOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        if (!Enum.IsDefined(format))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(format), format, "Unknown checkpoint format.");
        }

        options ??= QuantizedCheckpointOptions.Default;
        if (options.MaxShardBytes <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), options.MaxShardBytes, "MaxShardBytes must be positive.");
        }

        if (string.IsNullOrWhiteSpace(options.Method) || string.IsNullOrWhiteSpace(options.LibraryVersion))
        {
            ThrowHelper.ThrowArgument(nameof(options), "Method and LibraryVersion must be non-empty labels.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDirectory));
        CheckTarget(source, target, options.Overwrite);
        List<(string Source, string Name)> extras = ResolveExtraFiles(options.ExtraFiles);

        LlamaConfig config = source.Config;
        bool permute = config.RopeConvention == RopeConvention.AdjacentPairs;
        ILlamaWeightSource view = permute ? new HalfRotationWeightSource(source) : source;
        LlamaConfig hf = view.Config;

        var plan = ModulePlan.Create(config, modules, format, options.CompressedTensors);
        var quantized = new Dictionary<(int Layer, LlamaTensor Tensor), QuantizedTensor>();
        foreach (var (name, layer, tensor, q) in plan.Quantized)
        {
            quantized[(layer, tensor)] = permute && RopeRowPermutation.Applies(tensor) ? RopeRowPermutation.PermuteRows(q, config.HeadDim) : q;
        }

        var excludedNames = new HashSet<string>(plan.Excluded.Select(e => e.Name), StringComparer.Ordinal);
        var packed = PackAll(format, hf, quantized, excludedNames, options, plan.Excluded);
        cancellationToken.ThrowIfCancellationRequested();

        // Plan every tensor in model order, then assign shards greedily.
        var tensors = new List<PlannedTensor> { FullPrecision(view, LlamaTensor.TokenEmbedding, 0) };
        for (int layer = 0; layer < hf.Layers; layer++)
        {
            tensors.Add(FullPrecision(view, LlamaTensor.AttentionNorm, layer));
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                if (t == LlamaTensor.GateProjection)
                {
                    tensors.Add(FullPrecision(view, LlamaTensor.FeedForwardNorm, layer));
                }

                if (packed.Tensors.TryGetValue((layer, t), out List<PlannedTensor>? moduleTensors))
                {
                    tensors.AddRange(moduleTensors);
                }
                else
                {
                    tensors.Add(FullPrecision(view, t, layer));
                }
            }
        }

        tensors.Add(FullPrecision(view, LlamaTensor.FinalNorm, 0));
        if (!hf.TiedEmbeddings)
        {
            tensors.Add(FullPrecision(view, LlamaTensor.OutputHead, 0));
        }

        var shards = new List<List<PlannedTensor>>();
        long current = 0;
        foreach (PlannedTensor t in tensors)
        {
            if (shards.Count == 0 || (current > 0 && current + t.Bytes > options.MaxShardBytes))
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(t);
            current += t.Bytes;
        }

        (JsonNode? bos, JsonNode? eos) = TokenIds(source, options);
        JsonObject hfConfig = HuggingFaceConfigBuilder.Build(hf, bos, eos, "float32");
        if (packed.QuantizationConfig is not null)
        {
            hfConfig["quantization_config"] = packed.QuantizationConfig.DeepClone();
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["quantization_method"] = options.Method,
            ["quantizer"] = "lowbitquant:" + options.LibraryVersion,
            ["checkpoint_format"] = packed.Label,
            ["zero_convention"] = packed.ZeroConvention,
        };

        string temp = CheckpointDirectory.CreateTemporary(target);
        var files = new List<string>();
        long totalBytes = tensors.Sum(t => t.Bytes);
        try
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int s = 0; s < shards.Count; s++)
            {
                string file = shards.Count == 1 ? WeightsFileName : $"model-{s + 1:00000}-of-{shards.Count:00000}.safetensors";
                using (SafetensorsWriter writer = SafetensorsWriter.Create(Path.Combine(temp, file), metadata))
                {
                    foreach (PlannedTensor t in shards[s])
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        t.AddTo(writer);
                        weightMap[t.Name] = file;
                    }

                    writer.Save(cancellationToken);
                }

                files.Add(file);
            }

            if (shards.Count > 1)
            {
                var map = new JsonObject();
                foreach (var (name, file) in weightMap)
                {
                    map[name] = file;
                }

                var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = totalBytes }, ["weight_map"] = map };
                WriteText(temp, IndexFileName, HuggingFaceConfigBuilder.ToText(index), files);
            }

            WriteText(temp, ConfigFileName, HuggingFaceConfigBuilder.ToText(hfConfig), files);
            if (packed.SideFile is { } side)
            {
                WriteText(temp, side.Name, side.Text, files);
            }

            foreach (var (path, name) in extras)
            {
                cancellationToken.ThrowIfCancellationRequested();
                File.Copy(path, Path.Combine(temp, name));
                files.Add(name);
            }

            cancellationToken.ThrowIfCancellationRequested();
            CheckpointDirectory.Commit(temp, target, options.Overwrite);
        }
        catch
        {
            CheckpointDirectory.TryDelete(temp);
            throw;
        }

        files.Sort(StringComparer.Ordinal);
        return new QuantizedCheckpointSummary(
            target,
            format,
            packed.Label,
            [.. plan.Quantized.Select(q => q.Name)],
            plan.Excluded,
            files,
            totalBytes,
            permute);
    }

    private static void WriteText(string folder, string name, string text, List<string> files)
    {
        File.WriteAllText(Path.Combine(folder, name), text, new System.Text.UTF8Encoding(false));
        files.Add(name);
    }

    private static void CheckTarget(ILlamaWeightSource source, string target, bool overwrite)
    {
        if (File.Exists(target))
        {
            ThrowHelper.ThrowArgument("outputDirectory", $"Output path '{target}' is an existing file, not a folder.");
        }

        string? sourceFolder = LlamaWeightOverlay.Unwrap(source) switch
        {
            HuggingFaceCheckpointReader h => h.Folder,
            QuantizedCheckpointReader q => q.Folder,
            _ => null,
        };
        if (sourceFolder is not null && string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(sourceFolder)), target, StringComparison.Ordinal))
        {
            ThrowHelper.ThrowArgument("outputDirectory", $"Output folder '{target}' is the source model's own folder; write the checkpoint elsewhere.");
        }

        if (!overwrite && CheckpointDirectory.IsNonEmptyDirectory(target))
        {
            ThrowHelper.ThrowArgument("outputDirectory", $"Output folder '{target}' exists and is not empty; choose another folder or set Overwrite to replace it.");
        }
    }

    private static List<(string Source, string Name)> ResolveExtraFiles(IReadOnlyList<string>? extraFiles)
    {
        var result = new List<(string, string)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in extraFiles ?? [])
        {
            if (string.IsNullOrEmpty(path))
            {
                ThrowHelper.ThrowArgument("options", "An extra file path is empty.");
            }

            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"Extra file '{path}' (to be copied into the checkpoint) not found.", path);
            }

            string name = Path.GetFileName(path);
            if (name is ConfigFileName or IndexFileName or WeightsFileName or GptqConfigFileName or DashQConfigFileName
                || (name.StartsWith("model-", StringComparison.Ordinal) && name.EndsWith(".safetensors", StringComparison.Ordinal)))
            {
                ThrowHelper.ThrowArgument("options", $"Extra file '{path}' would replace the checkpoint's own '{name}'.");
            }

            if (!names.Add(name))
            {
                ThrowHelper.ThrowArgument("options", $"Two extra files are named '{name}'.");
            }

            result.Add((Path.GetFullPath(path), name));
        }

        return result;
    }

    private static (JsonNode? Bos, JsonNode? Eos) TokenIds(ILlamaWeightSource source, QuantizedCheckpointOptions options)
    {
        (JsonNode? bos, JsonNode? eos) = LlamaWeightOverlay.Unwrap(source) switch
        {
            HuggingFaceCheckpointReader h => HuggingFaceConfigBuilder.ReadTokenIds(h.Folder),
            QuantizedCheckpointReader q => HuggingFaceConfigBuilder.ReadTokenIds(q.Folder),
            Llama2cCheckpointReader => (JsonValue.Create(Llama2cTokenizer.BosId), JsonValue.Create(2)),
            _ => (null, null),
        };
        return (options.BosTokenId is int b ? JsonValue.Create(b) : bos, options.EosTokenId is int e ? JsonValue.Create(e) : eos);
    }

    private static PlannedTensor FullPrecision(ILlamaWeightSource view, LlamaTensor tensor, int layer)
    {
        LlamaConfig c = view.Config;
        string name = c.GetTensorName(tensor, layer);
        (int rows, int columns) = c.GetShape(tensor);
        long[] shape = tensor is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm ? [columns] : [rows, columns];
        long bytes = (long)rows * columns * sizeof(float);
        return new PlannedTensor(name, bytes, writer =>
        {
            var buffer = new byte[bytes];
            view.ReadTensor(tensor, layer, MemoryMarshal.Cast<byte, float>(buffer.AsSpan()));
            writer.Add(name, SafetensorsDType.F32, shape, buffer);
        });
    }

    private static PlannedTensor Int32Tensor(string name, long[] shape, ReadOnlyMemory<int> values) =>
        new(name, (long)values.Length * sizeof(int), writer => writer.AddInt32(name, shape, values.Span));

    private static PlannedTensor SixteenBitTensor<T>(string name, SafetensorsDType dtype, long[] shape, ReadOnlyMemory<T> values)
        where T : unmanaged =>
        new(name, (long)values.Length * 2, writer => writer.Add(name, dtype, shape, MemoryMarshal.AsBytes(values.Span).ToArray()));

    private static PackedModules PackAll(
        QuantizedCheckpointFormat format,
        LlamaConfig hf,
        Dictionary<(int Layer, LlamaTensor Tensor), QuantizedTensor> quantized,
        HashSet<string> excluded,
        QuantizedCheckpointOptions options,
        IReadOnlyList<ExcludedModule> excludedModules)
    {
        var tensors = new Dictionary<(int, LlamaTensor), List<PlannedTensor>>();
        switch (format)
        {
            case QuantizedCheckpointFormat.Gptq:
            {
                var convention = quantized.Values.Any(q => GptqPacker.SelectConvention(q) == GptqZeroConvention.V2) ? GptqZeroConvention.V2 : GptqZeroConvention.V1;
                var layers = new List<GptqPackedLayer>();
                foreach (var ((layer, t), q) in quantized)
                {
                    GptqPackedLayer p = GptqPacker.Pack(q, convention);
                    layers.Add(p);
                    string m = hf.GetModuleName(t, layer);
                    tensors[(layer, t)] =
                    [
                        Int32Tensor(m + ".qweight", [p.QWeightShape.Rows, p.QWeightShape.Columns], p.QWeight),
                        Int32Tensor(m + ".qzeros", [p.QZerosShape.Rows, p.QZerosShape.Columns], p.QZeros),
                        SixteenBitTensor(m + ".scales", SafetensorsDType.F16, [p.ScalesShape.Rows, p.ScalesShape.Columns], p.Scales),
                        Int32Tensor(m + ".g_idx", [p.InFeatures], p.GIdx),
                    ];
                }

                GptqQuantizeConfig gptq = GptqQuantizeConfig.FromLayers(layers) with
                {
                    Quantizer = "lowbitquant:" + options.LibraryVersion,
                    DampPercent = options.DampPercent ?? 0,
                    DampAutoIncrement = options.DampPercent is null ? 0 : 0.01,
                    TrueSequential = options.TrueSequential,
                    StaticGroups = options.StaticGroups,
                };
                JsonObject json = gptq.ToJsonObject();
                if (excludedModules.Count > 0)
                {
                    var dynamic = new JsonObject();
                    foreach (ExcludedModule e in excludedModules)
                    {
                        dynamic["-:^" + Regex.Escape(e.Name) + "$"] = new JsonObject();
                    }

                    json["dynamic"] = dynamic;
                }

                string label = convention.ToCheckpointFormat();
                string zeros = convention == GptqZeroConvention.V1 ? "gptq v1: qzeros field = z - 1" : "gptq_v2: qzeros field = z";
                return new PackedModules(tensors, json, label, zeros, (GptqConfigFileName, HuggingFaceConfigBuilder.ToText(json)));
            }

            case QuantizedCheckpointFormat.CompressedTensors:
            {
                QuantizationScheme scheme = quantized.Values.First().Scheme;
                PackQuantizedOptions user = options.CompressedTensors ?? PackQuantizedOptions.Default;
                var packOptions = user with
                {
                    Symmetric = options.CompressedTensors?.Symmetric ?? (scheme.Symmetric ? null : false),
                    WriteGroupIndex = user.WriteGroupIndex || quantized.Values.Any(q => !q.GroupIndex.IsEmpty),
                };
                var layers = new List<KeyValuePair<string, PackQuantizedLayer>>();
                foreach (var ((layer, t), q) in quantized)
                {
                    PackQuantizedLayer p = PackQuantizedPacker.Pack(q, packOptions);
                    string m = hf.GetModuleName(t, layer);
                    layers.Add(new(m, p));
                    var list = new List<PlannedTensor>
                    {
                        Int32Tensor($"{m}.{PackQuantizedTensorNames.WeightPacked}", ToLong(p.WeightPackedShape), p.WeightPacked),
                        SixteenBitTensor(
                            $"{m}.{PackQuantizedTensorNames.WeightScale}",
                            p.ScaleType == ScaleDataType.Float16 ? SafetensorsDType.F16 : SafetensorsDType.BF16,
                            ToLong(p.WeightScaleShape),
                            p.WeightScale),
                    };
                    if (p.WeightZeroPointShape is { } zpShape)
                    {
                        list.Add(Int32Tensor($"{m}.{PackQuantizedTensorNames.WeightZeroPoint}", ToLong(zpShape), p.WeightZeroPoint));
                    }

                    if (p.HasGroupIndex)
                    {
                        list.Add(Int32Tensor($"{m}.{PackQuantizedTensorNames.WeightGroupIndex}", [p.Columns], p.WeightGroupIndex));
                    }

                    list.Add(Int32Tensor($"{m}.{PackQuantizedTensorNames.WeightShape}", [2], new[] { p.Rows, p.Columns }));
                    tensors[(layer, t)] = list;
                }

                PackQuantizedConfig config = PackQuantizedConfig.FromModules(layers, [.. excluded.Order(StringComparer.Ordinal), "lm_head"], options.StaticActOrder);
                return new PackedModules(tensors, config.ToJson(), CompressedTensorsLabel, "unsigned fields: stored code = q, stored zero = z (signed value + 2^(b-1))", null);
            }

            default:
            {
                var entries = new Dictionary<string, DashQModuleEntry>(StringComparer.Ordinal);
                foreach (var ((layer, t), q) in quantized)
                {
                    DashQPackedModule p = DashQPackedWriter.Pack(q, "float32");
                    string m = hf.GetModuleName(t, layer);
                    entries[m] = p.Entry;
                    tensors[(layer, t)] =
                    [
                        Int32Tensor(m + ".W_q_packed", [p.Entry.PackedLength], p.PackedCodes),
                        SixteenBitTensor(m + ".scale", SafetensorsDType.F16, [p.Entry.GroupCount, 1], p.Scale),
                        SixteenBitTensor(m + ".zero", SafetensorsDType.F16, [p.Entry.GroupCount, 1], p.Zero),
                    ];
                }

                return new PackedModules(tensors, null, DashQPackedWriter.FormatName, "real-valued zeros: w = (q - zero) * scale", (DashQConfigFileName, DashQPackedWriter.SerializeConfig(entries)));
            }
        }
    }

    private static long[] ToLong(IReadOnlyList<int> shape) => [.. shape.Select(d => (long)d)];

    private sealed record PackedModules(
        Dictionary<(int, LlamaTensor), List<PlannedTensor>> Tensors,
        JsonObject? QuantizationConfig,
        string Label,
        string ZeroConvention,
        (string Name, string Text)? SideFile);
}
