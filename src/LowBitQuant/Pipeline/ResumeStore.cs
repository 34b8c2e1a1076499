using System.Globalization;
using System.Text.Json;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Durable per-block results of a <see cref="LayerwiseQuantizer"/> run: one safetensors file per finished block (written atomically)
/// plus the fingerprint of the inputs that produced them. A different fingerprint discards the old results.
/// </summary>
internal sealed class ResumeStore
{
    private const string FingerprintFile = "fingerprint.txt";
    private readonly string _directory;

    private ResumeStore(string directory, string? note)
    {
        _directory = directory;
        Note = note;
    }

    /// <summary>What happened to earlier state, or null when there was none.</summary>
    public string? Note { get; }

    public static ResumeStore Open(string directory, string fingerprint)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, FingerprintFile);
        string[] layers = Directory.GetFiles(directory, "layer-*.safetensors");
        string? note = null;
        if (File.Exists(path) && File.ReadAllText(path) == fingerprint)
        {
            if (layers.Length > 0)
            {
                note = $"Resuming: {layers.Length} finished block(s) found in '{directory}'.";
            }
        }
        else
        {
            if (layers.Length > 0)
            {
                note = $"Discarded {layers.Length} finished block(s) in '{directory}': they were made from a different model, calibration set or options.";
            }

            foreach (string file in layers)
            {
                File.Delete(file);
            }

            AtomicFile.Write(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(fingerprint)), CancellationToken.None);
        }

        return new ResumeStore(directory, note);
    }

    /// <summary>Persists a finished block: its modules (in the basis they were quantized in) and HeRo-Q's folded transforms, if any.</summary>
    public void Save(int layer, IReadOnlyList<(string Module, QuantizedTensor Tensor, ModuleReport Report)> modules, BlockFold? fold, CancellationToken ct)
    {
        var metadata = new Dictionary<string, string>
        {
            ["reports"] = JsonSerializer.Serialize(modules.Select(m => m.Report).ToArray()),
        };
        foreach (var (module, t, _) in modules)
        {
            if (t.InputTransform is not null)
            {
                throw new InvalidOperationException($"Module '{module}' carries an input transform; the pipeline folds transforms and stores none.");
            }

            metadata[$"{module}.scheme"] = string.Create(CultureInfo.InvariantCulture, $"{t.Scheme.Bits};{t.Scheme.GroupSize?.ToString(CultureInfo.InvariantCulture) ?? ""};{t.Scheme.Symmetric}");
            metadata[$"{module}.diagnostics"] = JsonSerializer.Serialize(t.Diagnostics);
        }

        if (fold is not null)
        {
            metadata["fold"] = JsonSerializer.Serialize(new { fold.OutputRotation, fold.Summary });
        }

        using var writer = SafetensorsWriter.Create(LayerPath(layer), metadata);
        foreach (var (module, t, _) in modules)
        {
            writer.AddUInt8($"{module}.codes", [t.Rows, t.Columns], t.Codes.Span);
            writer.AddSingle($"{module}.scales", [t.Rows, t.GroupCount], t.Scales.Span);
            writer.AddSingle($"{module}.zeros", [t.Rows, t.GroupCount], t.Zeros.Span);
            if (!t.GroupIndex.IsEmpty)
            {
                writer.AddInt32($"{module}.g_idx", [t.Columns], t.GroupIndex.Span);
            }
        }

        foreach (var (name, scales) in FoldTensors(fold))
        {
            if (scales.Length > 0)
            {
                writer.AddSingle(name, [scales.Length], scales);
            }
        }

        writer.Save(ct);
    }

    /// <summary>The block's modules (and folded transforms, null when none were saved) when a result for it exists, else null.</summary>
    public (List<(string Module, QuantizedTensor Tensor, ModuleReport Report)> Modules, BlockFold? Fold)? TryLoad(int layer, LlamaConfig config)
    {
        string path = LayerPath(layer);
        if (!File.Exists(path))
        {
            return null;
        }

        using var reader = SafetensorsReader.Open(path);
        var reports = JsonSerializer.Deserialize<ModuleReport[]>(reader.Metadata["reports"])
            ?? throw new InvalidDataException($"'{path}' holds no module reports.");
        var result = new List<(string, QuantizedTensor, ModuleReport)>();
        foreach (var report in reports)
        {
            string m = report.Module;
            if (!config.TryParseModuleName(m, out int l, out _) || l != layer)
            {
                throw new InvalidDataException($"'{path}' holds module '{m}', which is not in block {layer} of this model.");
            }

            string[] scheme = reader.Metadata[$"{m}.scheme"].Split(';');
            var s = new QuantizationScheme(int.Parse(scheme[0], CultureInfo.InvariantCulture), scheme[1].Length == 0 ? null : int.Parse(scheme[1], CultureInfo.InvariantCulture), bool.Parse(scheme[2]));
            var info = reader.Tensors[$"{m}.codes"];
            int rows = (int)info.Shape[0], columns = (int)info.Shape[1];
            var tensor = new QuantizedTensor(
                s, rows, columns, reader.Read<byte>($"{m}.codes"), reader.ReadAsSingle($"{m}.scales"), reader.ReadAsSingle($"{m}.zeros"),
                reader.Tensors.ContainsKey($"{m}.g_idx") ? reader.Read<int>($"{m}.g_idx") : null,
                null,
                JsonSerializer.Deserialize<QuantizationDiagnostics>(reader.Metadata[$"{m}.diagnostics"]));
            result.Add((m, tensor, report with { Resumed = true }));
        }

        BlockFold? fold = null;
        if (reader.Metadata.TryGetValue("fold", out string? foldJson))
        {
            using var info = JsonDocument.Parse(foldJson);
            float[] Scales(string name) => reader.Tensors.ContainsKey(name) ? reader.ReadAsSingle(name) : [];
            fold = new BlockFold(
                Scales(AttentionFold), Scales(OutputFold), info.RootElement.GetProperty(nameof(BlockFold.OutputRotation)).GetBoolean(),
                Scales(FeedForwardFold), Scales(DownFold), info.RootElement.GetProperty(nameof(BlockFold.Summary)).GetString() ?? "");
        }

        return (result, fold);
    }

    private const string AttentionFold = "fold.attention_scales";
    private const string OutputFold = "fold.output_scales";
    private const string FeedForwardFold = "fold.feed_forward_scales";
    private const string DownFold = "fold.down_scales";

    private static (string Name, float[] Scales)[] FoldTensors(BlockFold? f) => f is null ? [] :
        [(AttentionFold, f.Attention), (OutputFold, f.Output), (FeedForwardFold, f.FeedForward), (DownFold, f.Down)];

    private string LayerPath(int layer) => Path.Combine(_directory, $"layer-{layer:D4}.safetensors");
}
