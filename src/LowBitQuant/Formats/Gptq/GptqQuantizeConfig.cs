using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// The GPTQModel configuration field set (formats/gptq-checkpoint.md §5), written both as <c>quantize_config.json</c> and
/// as <c>config.json["quantization_config"]</c>.
/// </summary>
public sealed record GptqQuantizeConfig
{
    /// <summary>Bits per weight: 2, 3, 4 or 8.</summary>
    public required int Bits { get; init; }

    /// <summary>Input columns per group, or <see langword="null"/> for one group (serialised as <c>-1</c>, the only place that sentinel appears).</summary>
    public required int? GroupSize { get; init; }

    /// <summary><c>desc_act</c>: true only when some layer's g_idx really is permuted (act-order with dynamic groups).</summary>
    public bool DescAct { get; init; }

    /// <summary><c>sym</c>: whether the grid is symmetric.</summary>
    public required bool Symmetric { get; init; }

    /// <summary><c>lm_head</c>: whether the output head is quantized too.</summary>
    public bool LmHead { get; init; }

    /// <summary>The zero convention, serialised as <c>checkpoint_format</c> ("gptq" or "gptq_v2").</summary>
    public required GptqZeroConvention Convention { get; init; }

    /// <summary><c>meta.quantizer</c>: the producing tool and version.</summary>
    public string Quantizer { get; init; } = DefaultQuantizer();

    /// <summary><c>meta.damp_percent</c>: damping as a fraction of mean(diag H).</summary>
    public double DampPercent { get; init; } = 0.01;

    /// <summary><c>meta.damp_auto_increment</c>: damping step after a failed factorisation.</summary>
    public double DampAutoIncrement { get; init; } = 0.01;

    /// <summary><c>meta.static_groups</c>: whether grids were fitted before the solve.</summary>
    public bool StaticGroups { get; init; }

    /// <summary><c>meta.true_sequential</c>: whether sub-layers were quantized in true sequence.</summary>
    public bool TrueSequential { get; init; } = true;

    /// <summary><c>meta.mse</c>: the MSE shrink factor of the grid search (0 for none).</summary>
    public double Mse { get; init; }

    /// <summary>
    /// The configuration describing <paramref name="layers"/>: bits, group size, sym and convention must agree across them
    /// (a checkpoint carries one label); desc_act is true when any layer's g_idx is permuted.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="layers"/> is empty or its layers disagree.</exception>
    public static GptqQuantizeConfig FromLayers(IEnumerable<GptqPackedLayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        GptqPackedLayer? first = null;
        bool descAct = false;
        foreach (var layer in layers)
        {
            ArgumentNullException.ThrowIfNull(layer, nameof(layers));
            first ??= layer;
            if (layer.Bits != first.Bits || layer.GroupSize != first.GroupSize || layer.Symmetric != first.Symmetric || layer.Convention != first.Convention)
            {
                ThrowHelper.ThrowArgument(
                    nameof(layers),
                    $"Layers disagree: ({first.Bits} bits, group {first.GroupSize?.ToString() ?? "none"}, sym {first.Symmetric}, {first.CheckpointFormat}) vs " +
                    $"({layer.Bits} bits, group {layer.GroupSize?.ToString() ?? "none"}, sym {layer.Symmetric}, {layer.CheckpointFormat}); " +
                    "one checkpoint has one configuration (pack every layer with GptqZeroConvention.V2 when any needs it).");
            }

            descAct |= layer.DescAct;
        }

        if (first is null)
        {
            ThrowHelper.ThrowArgument(nameof(layers), "At least one packed layer is needed to describe a checkpoint.");
        }

        return new GptqQuantizeConfig
        {
            Bits = first.Bits,
            GroupSize = first.GroupSize,
            Symmetric = first.Symmetric,
            Convention = first.Convention,
            DescAct = descAct,
        };
    }

    /// <summary>The field set as a JSON object, in GPTQModel's order.</summary>
    /// <exception cref="InvalidOperationException">A field holds a value the format cannot express.</exception>
    public JsonObject ToJsonObject()
    {
        if (!GptqBitPacking.IsSupported(Bits))
        {
            throw new InvalidOperationException($"GPTQ checkpoints use 2, 3, 4 or 8 bits, not {Bits}.");
        }

        if (GroupSize is <= 0)
        {
            throw new InvalidOperationException($"Group size must be positive or null (no groups), not {GroupSize}.");
        }

        return new JsonObject
        {
            ["bits"] = Bits,
            ["group_size"] = GroupSize ?? -1,
            ["desc_act"] = DescAct,
            ["sym"] = Symmetric,
            ["lm_head"] = LmHead,
            ["quant_method"] = "gptq",
            ["checkpoint_format"] = Convention.ToCheckpointFormat(),
            ["pack_dtype"] = "int32",
            ["meta"] = new JsonObject
            {
                ["quantizer"] = new JsonArray(Quantizer),
                ["damp_percent"] = DampPercent,
                ["damp_auto_increment"] = DampAutoIncrement,
                ["static_groups"] = StaticGroups,
                ["true_sequential"] = TrueSequential,
                ["mse"] = Mse,
            },
        };
    }

    /// <summary>The field set as indented JSON text (the content of <c>quantize_config.json</c>).</summary>
    /// <exception cref="InvalidOperationException">A field holds a value the format cannot express.</exception>
    public string ToJson() => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    private static string DefaultQuantizer()
    {
        var assembly = typeof(GptqQuantizeConfig).Assembly;
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return "lowbitquant:" + (plus >= 0 ? version[..plus] : version);
    }
}
