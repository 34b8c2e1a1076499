using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using LowBitQuant.Formats.CompressedTensors;
using LowBitQuant.Formats.DashQ;
using LowBitQuant.Formats.Gptq;
using LowBitQuant.Formats.HuggingFace;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// Reads a quantized Hugging Face Llama folder (GPTQ v1/v2, compressed-tensors <c>pack-quantized</c>, or the DASH-Q packed format)
/// as an <see cref="ILlamaWeightSource"/>: quantized modules are dequantized on <see cref="ReadTensor"/> exactly as a loader does,
/// everything else is read from F32/F16/BF16 tensors. Every tensor is checked (present, shape, dtype) when the folder is opened.
/// </summary>
public sealed class QuantizedCheckpointReader : ILlamaWeightSource
{
    private readonly SafetensorsShardSet _shards;
    private readonly Dictionary<(int Layer, LlamaTensor Tensor), QuantizedModule> _modules;
    private bool _disposed;

    private QuantizedCheckpointReader(string folder, LlamaConfig config, QuantizedCheckpointFormat format, string label, SafetensorsShardSet shards, Dictionary<(int, LlamaTensor), QuantizedModule> modules)
    {
        Folder = folder;
        Config = config;
        Format = format;
        FormatLabel = label;
        _shards = shards;
        _modules = modules;
        var quantized = new List<string>();
        var full = new List<string>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                (modules.ContainsKey((layer, t)) ? quantized : full).Add(config.GetModuleName(t, layer));
            }
        }

        QuantizedModules = quantized;
        FullPrecisionModules = full;
    }

    private delegate void Dequantizer(Span<float> destination);

    /// <summary>The model description from <c>config.json</c>.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The checkpoint folder.</summary>
    public string Folder { get; }

    /// <summary>The layout of the quantized modules.</summary>
    public QuantizedCheckpointFormat Format { get; }

    /// <summary>The stored label: <c>gptq</c>, <c>gptq_v2</c>, <c>dashq-packed-linear</c> or <c>compressed-tensors pack-quantized</c>.</summary>
    public string FormatLabel { get; }

    /// <summary>Linear modules stored quantized, in model order.</summary>
    public IReadOnlyList<string> QuantizedModules { get; }

    /// <summary>Linear modules stored in full precision (excluded or ignored), in model order.</summary>
    public IReadOnlyList<string> FullPrecisionModules { get; }

    /// <summary>
    /// Whether <paramref name="folder"/> holds a quantized checkpoint: a <c>dashq_config.json</c>, a <c>quantize_config.json</c>, or a
    /// <c>quantization_config</c> object in <c>config.json</c>.
    /// </summary>
    public static bool IsQuantizedCheckpoint(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (File.Exists(Path.Combine(folder, QuantizedCheckpointWriter.DashQConfigFileName)) || File.Exists(Path.Combine(folder, QuantizedCheckpointWriter.GptqConfigFileName)))
        {
            return true;
        }

        string config = Path.Combine(folder, "config.json");
        if (!File.Exists(config))
        {
            return false;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(config));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("quantization_config", out JsonElement q) && q.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Opens and validates a quantized checkpoint folder.</summary>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException"><c>config.json</c>, the weights or a shard is missing.</exception>
    /// <exception cref="InvalidCheckpointException">
    /// The configuration is invalid, unsupported or not quantized; a quantized module lacks a tensor, or a tensor has the wrong
    /// shape or dtype (the message names the tensor, the expected and the found shape); the quantization does not match the model.
    /// </exception>
    /// <exception cref="InvalidDashQCheckpointException">The same problems in a DASH-Q packed checkpoint.</exception>
    /// <exception cref="InvalidSafetensorsException">A shard is not a valid safetensors file.</exception>
    public static QuantizedCheckpointReader Open(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Checkpoint folder '{folder}' not found.");
        }

        string configPath = Path.Combine(folder, "config.json");
        LlamaConfig config = HuggingFaceLlamaConfig.Load(configPath);
        SafetensorsShardSet shards = SafetensorsShardSet.Open(folder);
        try
        {
            string dashq = Path.Combine(folder, QuantizedCheckpointWriter.DashQConfigFileName);
            (QuantizedCheckpointFormat format, string label, Dictionary<(int, LlamaTensor), QuantizedModule> modules) = File.Exists(dashq)
                ? (QuantizedCheckpointFormat.DashQ, DashQPackedWriter.FormatName, LoadDashQ(dashq, config, shards))
                : LoadFromQuantizationConfig(folder, configPath, config, shards);
            var reader = new QuantizedCheckpointReader(folder, config, format, label, shards, modules);
            reader.ValidateFullPrecisionTensors(format == QuantizedCheckpointFormat.DashQ ? m => new InvalidDashQCheckpointException($"{folder}: {m}") : m => new InvalidCheckpointException(folder, m));
            return reader;
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
        if (LlamaConfig.IsLinear(tensor) && _modules.TryGetValue((layer, tensor), out QuantizedModule? module))
        {
            module.Dequantize(destination);
            return;
        }

        _shards[name].ReadAsSingle(name, destination);
    }

    /// <summary>The stored quantized tensor of a module (codes, scales and zeros as stored), or <see langword="null"/> when it is stored in full precision.</summary>
    /// <exception cref="ArgumentException"><paramref name="moduleName"/> is not a linear module of this model.</exception>
    /// <exception cref="InvalidCheckpointException">The module's stored values are invalid (GPTQ, compressed-tensors).</exception>
    /// <exception cref="InvalidDashQCheckpointException">The module's stored values are invalid (DASH-Q).</exception>
    public QuantizedTensor? ReadQuantized(string moduleName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(moduleName);
        if (!Config.TryParseModuleName(moduleName, out int layer, out LlamaTensor tensor))
        {
            ThrowHelper.ThrowArgument(nameof(moduleName), $"'{moduleName}' is not a linear module of this model.");
        }

        return _modules.TryGetValue((layer, tensor), out QuantizedModule? module) ? module.Unpack() : null;
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

    private static (QuantizedCheckpointFormat, string, Dictionary<(int, LlamaTensor), QuantizedModule>) LoadFromQuantizationConfig(string folder, string configPath, LlamaConfig config, SafetensorsShardSet shards)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        JsonDocument? side = null;
        try
        {
            string path = configPath;
            JsonElement q;
            if (!doc.RootElement.TryGetProperty("quantization_config", out q) || q.ValueKind != JsonValueKind.Object)
            {
                path = Path.Combine(folder, QuantizedCheckpointWriter.GptqConfigFileName);
                if (!File.Exists(path))
                {
                    throw new InvalidCheckpointException(configPath, "config.json has no quantization_config and the folder has no quantize_config.json or dashq_config.json: this is not a quantized checkpoint.");
                }

                side = Parse(path);
                q = side.RootElement;
            }

            string method = GetString(q, path, "quant_method") ?? throw new InvalidCheckpointException(path, "quantization_config lacks 'quant_method'.");
            return method switch
            {
                "gptq" => LoadGptq(q, path, config, shards),
                "compressed-tensors" => (QuantizedCheckpointFormat.CompressedTensors, QuantizedCheckpointWriter.CompressedTensorsLabel, LoadCompressedTensors(q, path, config, shards)),
                _ => throw new InvalidCheckpointException(path, $"quant_method '{method}' is not supported (supported: gptq, compressed-tensors, and the DASH-Q packed format)."),
            };
        }
        finally
        {
            side?.Dispose();
        }
    }

    private static (QuantizedCheckpointFormat, string, Dictionary<(int, LlamaTensor), QuantizedModule>) LoadGptq(JsonElement q, string path, LlamaConfig config, SafetensorsShardSet shards)
    {
        int bits = GetInt(q, path, "bits") ?? throw new InvalidCheckpointException(path, "quantization_config lacks 'bits'.");
        if (!GptqBitPacking.IsSupported(bits))
        {
            throw new InvalidCheckpointException(path, $"GPTQ bits {bits} is not one of 2, 3, 4, 8.");
        }

        int groupField = GetInt(q, path, "group_size") ?? -1;
        if (groupField == 0 || groupField < -1)
        {
            throw new InvalidCheckpointException(path, $"group_size {groupField} must be positive or -1 (no groups).");
        }

        int? groupSize = groupField == -1 ? null : groupField;
        bool sym = GetBool(q, path, "sym") ?? true;
        if (GetBool(q, path, "lm_head") == true)
        {
            throw new InvalidCheckpointException(path, "lm_head is quantized (lm_head: true); only decoder-layer linears are read quantized.");
        }

        string label = GetString(q, path, "checkpoint_format") ?? GetString(q, path, "format") ?? "gptq";
        GptqZeroConvention convention = label switch
        {
            "gptq" => GptqZeroConvention.V1,
            "gptq_v2" => GptqZeroConvention.V2,
            _ => throw new InvalidCheckpointException(path, $"checkpoint_format '{label}' is not supported (gptq, gptq_v2)."),
        };

        var skips = new List<Regex>();
        if (q.TryGetProperty("dynamic", out JsonElement dynamic) && dynamic.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty entry in dynamic.EnumerateObject())
            {
                if (entry.Name.StartsWith("-:", StringComparison.Ordinal))
                {
                    skips.Add(new Regex("^(?:" + entry.Name[2..] + ")", RegexOptions.CultureInvariant));
                }
                else if (entry.Value.ValueKind != JsonValueKind.Object || entry.Value.EnumerateObject().Any())
                {
                    throw new InvalidCheckpointException(path, $"dynamic entry '{entry.Name}' overrides per-module settings, which this reader does not support (only '-:' skip entries).");
                }
            }
        }

        var modules = new Dictionary<(int, LlamaTensor), QuantizedModule>();
        Exception Fail(string m) => new InvalidCheckpointException(path, m);
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                string name = config.GetModuleName(t, layer);
                if (skips.Any(r => r.IsMatch(name)))
                {
                    continue;
                }

                (int outF, int inF) = config.GetShape(t);
                string why = $"module '{name}' is quantized per the GPTQ configuration (no '-:' dynamic entry excludes it)";
                if (outF % 32 != 0 || inF % 32 != 0)
                {
                    throw Fail($"{why}, but its shape [out {outF}, in {inF}] is not a multiple of 32, which GPTQ cannot store.");
                }

                int groups = groupSize is int g ? (inF + g - 1) / g : 1;
                string source = $"{bits}-bit GPTQ with {groups} group(s) for [out {outF}, in {inF}]";
                shards.Require(name + ".qweight", SafetensorsDType.I32, [inF / 32 * bits, outF], why, source, Fail);
                shards.Require(name + ".qzeros", SafetensorsDType.I32, [groups, outF / 32 * bits], why, source, Fail);
                shards.Require(name + ".scales", SafetensorsDType.F16, [groups, outF], why, source, Fail);
                shards.Require(name + ".g_idx", SafetensorsDType.I32, [inF], why, source, Fail);
                GptqPackedLayer Load()
                {
                    try
                    {
                        return new GptqPackedLayer(
                            bits,
                            groupSize,
                            sym,
                            convention,
                            inF,
                            outF,
                            shards[name + ".qweight"].Read<int>(name + ".qweight"),
                            shards[name + ".qzeros"].Read<int>(name + ".qzeros"),
                            shards[name + ".scales"].Read<Half>(name + ".scales"),
                            shards[name + ".g_idx"].Read<int>(name + ".g_idx"));
                    }
                    catch (ArgumentException ex)
                    {
                        throw new InvalidCheckpointException(shards[name + ".qweight"].FilePath, $"module '{name}': {ex.Message}", ex);
                    }
                }

                modules[(layer, t)] = new QuantizedModule(() => Load().Unpack(new QuantizationDiagnostics { Method = label }), d => Load().Dequantize(d));
            }
        }

        if (modules.Count == 0)
        {
            throw Fail("every linear module is excluded by 'dynamic'; nothing is quantized.");
        }

        return (QuantizedCheckpointFormat.Gptq, label, modules);
    }

    private static Dictionary<(int, LlamaTensor), QuantizedModule> LoadCompressedTensors(JsonElement q, string path, LlamaConfig config, SafetensorsShardSet shards)
    {
        Exception Fail(string m) => new InvalidCheckpointException(path, m);
        string format = GetString(q, path, "format") ?? throw Fail("compressed-tensors quantization_config lacks 'format'.");
        if (format != "pack-quantized")
        {
            throw Fail($"compressed-tensors format '{format}' is not supported (pack-quantized).");
        }

        if (!q.TryGetProperty("config_groups", out JsonElement groupsJson) || groupsJson.ValueKind != JsonValueKind.Object || groupsJson.EnumerateObject().Count() != 1)
        {
            throw Fail("config_groups must hold exactly one group (one scheme for every Linear module).");
        }

        JsonElement group = groupsJson.EnumerateObject().First().Value;
        if (!group.TryGetProperty("targets", out JsonElement targets) || targets.ValueKind != JsonValueKind.Array || !targets.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.String && e.GetString() == "Linear"))
        {
            throw Fail("the config group must target \"Linear\".");
        }

        if (!group.TryGetProperty("weights", out JsonElement w) || w.ValueKind != JsonValueKind.Object)
        {
            throw Fail("the config group lacks a 'weights' object.");
        }

        int bits = GetInt(w, path, "num_bits") ?? throw Fail("weights lacks 'num_bits'.");
        if (bits is < QuantizationScheme.MinBits or > QuantizationScheme.MaxBits)
        {
            throw Fail($"num_bits {bits} is outside the {QuantizationScheme.MinBits}–{QuantizationScheme.MaxBits} bits this reader dequantizes.");
        }

        if ((GetString(w, path, "type") ?? "int") != "int")
        {
            throw Fail("only weights of type \"int\" are supported.");
        }

        bool symmetric = GetBool(w, path, "symmetric") ?? true;
        string strategy = GetString(w, path, "strategy") ?? "channel";
        int? groupSize = strategy switch
        {
            "channel" => null,
            "group" => GetInt(w, path, "group_size") is int g && g > 0 ? g : throw Fail("strategy \"group\" needs a positive group_size."),
            _ => throw Fail($"strategy '{strategy}' is not supported (channel, group)."),
        };

        var ignoreNames = new HashSet<string>(StringComparer.Ordinal);
        var ignoreRegexes = new List<Regex>();
        if (q.TryGetProperty("ignore", out JsonElement ignore) && ignore.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement e in ignore.EnumerateArray())
            {
                string entry = e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Fail("ignore entries must be strings.");
                if (entry.StartsWith("re:", StringComparison.Ordinal))
                {
                    ignoreRegexes.Add(new Regex("^(?:" + entry[3..] + ")", RegexOptions.CultureInvariant));
                }
                else
                {
                    ignoreNames.Add(entry);
                }
            }
        }

        var modules = new Dictionary<(int, LlamaTensor), QuantizedModule>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                string name = config.GetModuleName(t, layer);
                if (ignoreNames.Contains(name) || ignoreRegexes.Any(r => r.IsMatch(name)))
                {
                    continue;
                }

                (int outF, int inF) = config.GetShape(t);
                if (groupSize is int gs && inF % gs != 0)
                {
                    throw Fail($"module '{name}' (in = {inF}) is quantized per the configuration, but group_size {gs} does not divide {inF}.");
                }

                int groups = groupSize is int g2 ? inF / g2 : 1;
                int f = 32 / bits;
                string why = $"module '{name}' is quantized per the compressed-tensors configuration (not in 'ignore')";
                string source = $"{bits}-bit pack-quantized with {groups} group(s) for [out {outF}, in {inF}]";
                string packedName = $"{name}.{PackQuantizedTensorNames.WeightPacked}", scaleName = $"{name}.{PackQuantizedTensorNames.WeightScale}";
                string zeroName = $"{name}.{PackQuantizedTensorNames.WeightZeroPoint}", gidxName = $"{name}.{PackQuantizedTensorNames.WeightGroupIndex}";
                string shapeName = $"{name}.{PackQuantizedTensorNames.WeightShape}";
                shards.Require(packedName, SafetensorsDType.I32, [outF, (inF + f - 1) / f], why, source, Fail);
                SafetensorsTensorInfo scaleInfo = shards.Require(scaleName, null, [outF, groups], why, source, Fail);
                ScaleDataType scaleType = scaleInfo.DType switch
                {
                    SafetensorsDType.F16 => ScaleDataType.Float16,
                    SafetensorsDType.BF16 => ScaleDataType.BFloat16,
                    _ => throw Fail($"tensor '{scaleName}' has dtype {scaleInfo.DType}; weight_scale must be F16 or BF16."),
                };
                shards.Require(shapeName, SafetensorsDType.I32, [2], why, source, Fail);
                int[] storedShape = shards[shapeName].Read<int>(shapeName);
                if (storedShape[0] != outF || storedShape[1] != inF)
                {
                    throw Fail($"tensor '{shapeName}' is ({storedShape[0]}, {storedShape[1]}), but config.json implies ({outF}, {inF}).");
                }

                if (!symmetric)
                {
                    shards.Require(zeroName, SafetensorsDType.I32, [(outF + f - 1) / f, groups], why + " and asymmetric", source, Fail);
                }

                bool hasGIdx = shards.Find(gidxName) is not null;
                if (hasGIdx)
                {
                    shards.Require(gidxName, SafetensorsDType.I32, [inF], why, source, Fail);
                }

                QuantizedTensor Load()
                {
                    try
                    {
                        ushort[] scales = MemoryMarshal.Cast<byte, ushort>(shards[scaleName].GetTensorBytes(scaleName)).ToArray();
                        var layerData = new PackQuantizedLayer(
                            bits,
                            groupSize,
                            outF,
                            inF,
                            shards[packedName].Read<int>(packedName),
                            scales,
                            scaleType,
                            symmetric ? null : shards[zeroName].Read<int>(zeroName),
                            hasGIdx ? shards[gidxName].Read<int>(gidxName) : null);
                        return layerData.Unpack();
                    }
                    catch (ArgumentException ex)
                    {
                        throw new InvalidCheckpointException(shards[packedName].FilePath, $"module '{name}': {ex.Message}", ex);
                    }
                }

                modules[(layer, t)] = new QuantizedModule(Load, d => Load().Dequantize(d));
            }
        }

        if (modules.Count == 0)
        {
            throw Fail("every linear module is in 'ignore'; nothing is quantized.");
        }

        return modules;
    }

    private static Dictionary<(int, LlamaTensor), QuantizedModule> LoadDashQ(string path, LlamaConfig config, SafetensorsShardSet shards)
    {
        Exception Fail(string m) => new InvalidDashQCheckpointException($"{path}: {m}");
        IReadOnlyDictionary<string, DashQModuleEntry> entries = DashQPackedReader.ReadConfig(path);
        var modules = new Dictionary<(int, LlamaTensor), QuantizedModule>();
        foreach (var (name, entry) in entries.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!config.TryParseModuleName(name, out int layer, out LlamaTensor t))
            {
                throw Fail($"quantized module '{name}' is not a linear module of this model ({config.Layers} layers).");
            }

            (int outF, int inF) = config.GetShape(t);
            if (entry.OutFeatures != outF || entry.InFeatures != inF)
            {
                throw Fail($"module '{name}' is declared [out {entry.OutFeatures}, in {entry.InFeatures}], but config.json implies [out {outF}, in {inF}].");
            }

            string why = $"module '{name}' is listed in quantized_modules";
            string source = $"{entry.Bits}-bit DASH-Q with {entry.GroupCount} groups for [out {outF}, in {inF}]";
            string codesName = name + ".W_q_packed", scaleName = name + ".scale", zeroName = name + ".zero";
            shards.Require(codesName, SafetensorsDType.I32, [entry.PackedLength], why, source, Fail);
            foreach (string n in new[] { scaleName, zeroName })
            {
                SafetensorsTensorInfo info = shards.Require(n, null, [entry.GroupCount, 1], why, source, Fail);
                if (info.DType is not (SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F32))
                {
                    throw Fail($"tensor '{n}' has dtype {info.DType}; this reader takes F16, BF16 or F32 scales and zeros.");
                }
            }

            QuantizedTensor Load() => DashQPackedReader.Unpack(
                entry,
                shards[codesName].Read<int>(codesName),
                shards[scaleName].ReadAsSingle(scaleName),
                shards[zeroName].ReadAsSingle(zeroName),
                name);
            modules[(layer, t)] = new QuantizedModule(Load, d => Load().Dequantize(d));
        }

        if (modules.Count == 0)
        {
            throw Fail("quantized_modules is empty.");
        }

        return modules;
    }

    private void ValidateFullPrecisionTensors(Func<string, Exception> fail) => _shards.RequireFullPrecisionTensors(
        Config,
        (tensor, layer) => !LlamaConfig.IsLinear(tensor) ? $"tensor '{Config.GetTensorName(tensor, layer)}' is part of every Llama model"
            : _modules.ContainsKey((layer, tensor)) ? null
            : $"module '{Config.GetModuleName(tensor, layer)}' is not quantized per the {FormatLabel} configuration",
        fail);

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw new InvalidCheckpointException(path, $"not valid JSON: {ex.Message}", ex);
        }
    }

    private static string? GetString(JsonElement e, string path, string field) =>
        !e.TryGetProperty(field, out JsonElement v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InvalidCheckpointException(path, $"'{field}' must be a string.");

    private static int? GetInt(JsonElement e, string path, string field) =>
        !e.TryGetProperty(field, out JsonElement v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new InvalidCheckpointException(path, $"'{field}' must be an integer.");

    private static bool? GetBool(JsonElement e, string path, string field) =>
        !e.TryGetProperty(field, out JsonElement v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidCheckpointException(path, $"'{field}' must be true or false."),
        };

    private sealed record QuantizedModule(Func<QuantizedTensor> Unpack, Dequantizer Dequantize);
}
