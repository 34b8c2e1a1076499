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

    public void Save(int layer, IReadOnlyList<(string Module, QuantizedTensor Tensor, ModuleReport Report)> modules, CancellationToken ct)
    {
        var metadata = new Dictionary<string, string>
        {
            ["reports"] = JsonSerializer.Serialize(modules.Select(m => m.Report).ToArray()),
        };
        foreach (var (module, t, _) in modules)
        {
            metadata[$"{module}.scheme"] = string.Create(CultureInfo.InvariantCulture, $"{t.Scheme.Bits};{t.Scheme.GroupSize?.ToString(CultureInfo.InvariantCulture) ?? ""};{t.Scheme.Symmetric}");
            metadata[$"{module}.diagnostics"] = JsonSerializer.Serialize(t.Diagnostics);
            if (t.InputTransform is { } tr)
            {
                metadata[$"{module}.transform"] = $"{tr.Order};{tr.Rotation?.Descriptor ?? ""}";
            }
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

            if (t.InputTransform is { } transform && !transform.ChannelScales.IsEmpty)
            {
                writer.AddSingle($"{module}.channel_scales", [transform.ChannelScales.Length], transform.ChannelScales.Span);
            }
        }

        writer.Save(ct);
    }

    /// <summary>The block's modules when a result for it exists, else null.</summary>
    public List<(string Module, QuantizedTensor Tensor, ModuleReport Report)>? TryLoad(int layer, LlamaConfig config, IQuantizer quantizer)
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
            InputTransform? transform = null;
            if (reader.Metadata.TryGetValue($"{m}.transform", out string? t))
            {
                string[] parts = t.Split(';', 2);
                transform = new InputTransform(reader.Tensors.ContainsKey($"{m}.channel_scales") ? reader.ReadAsSingle($"{m}.channel_scales") : [], RebuildRotation(quantizer, columns, parts[1], path), Enum.Parse<TransformOrder>(parts[0]));
            }

            var tensor = new QuantizedTensor(
                s, rows, columns, reader.Read<byte>($"{m}.codes"), reader.ReadAsSingle($"{m}.scales"), reader.ReadAsSingle($"{m}.zeros"),
                reader.Tensors.ContainsKey($"{m}.g_idx") ? reader.Read<int>($"{m}.g_idx") : null,
                transform,
                JsonSerializer.Deserialize<QuantizationDiagnostics>(reader.Metadata[$"{m}.diagnostics"]));
            result.Add((m, tensor, report with { Resumed = true }));
        }

        return result;
    }

    /// <summary>Rotations are rebuilt from the quantizer's own deterministic choice and must match the stored descriptor.</summary>
    private static IRotation? RebuildRotation(IQuantizer quantizer, int size, string descriptor, string path)
    {
        if (descriptor.Length == 0)
        {
            return null;
        }

        if (quantizer is HeroQQuantizer heroq)
        {
            var rotation = RotationFactory.Create(size, heroq.Options.Seed, heroq.Options.RotationFallback).Rotation;
            if (rotation.Descriptor == descriptor)
            {
                return rotation;
            }
        }

        throw new InvalidDataException($"'{path}' holds a rotation ({descriptor}) that the current quantizer cannot rebuild.");
    }

    private string LayerPath(int layer) => Path.Combine(_directory, $"layer-{layer:D4}.safetensors");
}
