using System.Text.Json.Nodes;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>
/// The <c>config.json["quantization_config"]</c> of a <c>pack-quantized</c> checkpoint (compressed-tensors.md §4):
/// one config group targeting every <c>Linear</c> module except those in <see cref="Ignore"/>.
/// </summary>
/// <remarks>
/// Use <see cref="FromModules"/> so the labels are derived from the tensors actually written. Observer fields are
/// never emitted: how the scales were fitted belongs in the safetensors <c>__metadata__</c>.
/// </remarks>
public sealed class PackQuantizedConfig
{
    private readonly string[] _ignore;

    /// <summary>Creates a config.</summary>
    /// <param name="bits">num_bits, 1 to 8.</param>
    /// <param name="symmetric">Whether no module stores zero points.</param>
    /// <param name="groupSize">group_size for strategy "group", or <see langword="null"/> for strategy "channel".</param>
    /// <param name="actOrder">The actorder label.</param>
    /// <param name="ignore">Module names (or <c>re:</c>-prefixed regexes) left unquantized, e.g. <c>lm_head</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="ignore"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is outside [1, 8], the group size is not positive, or <paramref name="actOrder"/> is unknown.</exception>
    /// <exception cref="ArgumentException">An ignore entry is null, empty or whitespace.</exception>
    public PackQuantizedConfig(int bits, bool symmetric, int? groupSize, ActOrder actOrder, IEnumerable<string> ignore)
    {
        ArgumentNullException.ThrowIfNull(ignore);
        if (bits is < 1 or > 8)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(bits), bits, "pack-quantized stores 1 to 8 bits per weight.");
        }

        if (groupSize is <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(groupSize), groupSize, "Group size must be positive; use null for strategy \"channel\".");
        }

        if (!Enum.IsDefined(actOrder))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(actOrder), actOrder, "Unknown actorder.");
        }

        _ignore = ignore.ToArray();
        for (int i = 0; i < _ignore.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(_ignore[i]))
            {
                ThrowHelper.ThrowArgument(nameof(ignore), $"Ignore entry [{i}] is empty; give a module name or a \"re:\" regex.");
            }
        }

        Bits = bits;
        Symmetric = symmetric;
        GroupSize = groupSize;
        ActOrder = actOrder;
    }

    /// <summary>num_bits.</summary>
    public int Bits { get; }

    /// <summary>symmetric.</summary>
    public bool Symmetric { get; }

    /// <summary>group_size, or <see langword="null"/> for strategy "channel".</summary>
    public int? GroupSize { get; }

    /// <summary>"group" when <see cref="GroupSize"/> is set, else "channel".</summary>
    public string Strategy => GroupSize is null ? "channel" : "group";

    /// <summary>actorder.</summary>
    public ActOrder ActOrder { get; }

    /// <summary>Modules left unquantized.</summary>
    public IReadOnlyList<string> Ignore => _ignore;

    /// <summary>Derives the config from the packed modules, checking that one config group describes them all.</summary>
    /// <param name="modules">Module name → its packed tensors; at least one.</param>
    /// <param name="ignore">Module names (or <c>re:</c> regexes) left unquantized.</param>
    /// <param name="staticActOrder">
    /// Whether columns were processed in activation order with consecutive groups (labelled <c>"weight"</c>). Ignored when
    /// the modules store <c>weight_g_idx</c>, which is labelled <c>"group"</c>.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="modules"/> or <paramref name="ignore"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="modules"/> is empty, holds a null module, or the modules disagree in bits, group size, symmetry or
    /// presence of <c>weight_g_idx</c> (the message names two modules that differ and what to change).
    /// </exception>
    public static PackQuantizedConfig FromModules(IEnumerable<KeyValuePair<string, PackQuantizedLayer>> modules, IEnumerable<string> ignore, bool staticActOrder = false)
    {
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentNullException.ThrowIfNull(ignore);
        string? firstName = null;
        PackQuantizedLayer? first = null;
        foreach (var (name, layer) in modules)
        {
            if (layer is null)
            {
                ThrowHelper.ThrowArgument(nameof(modules), $"Module '{name}' is null.");
            }

            if (first is null)
            {
                firstName = name;
                first = layer;
                continue;
            }

            string? difference =
                layer.Bits != first.Bits ? $"is {layer.Bits}-bit while '{firstName}' is {first.Bits}-bit"
                : layer.GroupSize != first.GroupSize ? $"has group size {Describe(layer.GroupSize)} while '{firstName}' has {Describe(first.GroupSize)}"
                : layer.Symmetric != first.Symmetric ? $"is {(layer.Symmetric ? "symmetric" : "asymmetric")} while '{firstName}' is {(first.Symmetric ? "symmetric" : "asymmetric")} (pack with PackQuantizedOptions.Symmetric = false to store zero points everywhere)"
                : layer.HasGroupIndex != first.HasGroupIndex ? $"{(layer.HasGroupIndex ? "stores" : "lacks")} weight_g_idx while '{firstName}' {(first.HasGroupIndex ? "stores" : "lacks")} it (pack with PackQuantizedOptions.WriteGroupIndex = true to store it everywhere)"
                : null;
            if (difference is not null)
            {
                ThrowHelper.ThrowArgument(nameof(modules), $"Module '{name}' {difference}; one pack-quantized config group cannot describe both.");
            }
        }

        if (first is null)
        {
            ThrowHelper.ThrowArgument(nameof(modules), "At least one quantized module is needed to derive the config.");
        }

        var actOrder = first.HasGroupIndex ? ActOrder.Group : staticActOrder ? ActOrder.Weight : ActOrder.None;
        return new PackQuantizedConfig(first.Bits, first.Symmetric, first.GroupSize, actOrder, ignore);
    }

    /// <summary>The <c>quantization_config</c> object, to be stored under that key in config.json.</summary>
    public JsonObject ToJson()
    {
        var ignore = new JsonArray();
        foreach (string name in _ignore)
        {
            ignore.Add(name);
        }

        var weights = new JsonObject
        {
            ["num_bits"] = Bits,
            ["type"] = "int",
            ["symmetric"] = Symmetric,
            ["strategy"] = Strategy,
            ["group_size"] = GroupSize,
            ["dynamic"] = false,
            ["actorder"] = ActOrder switch
            {
                ActOrder.Weight => "weight",
                ActOrder.Group => "group",
                _ => null,
            },
        };

        return new JsonObject
        {
            ["quant_method"] = "compressed-tensors",
            ["format"] = "pack-quantized",
            ["quantization_status"] = "compressed",
            ["ignore"] = ignore,
            ["config_groups"] = new JsonObject
            {
                ["group_0"] = new JsonObject
                {
                    ["targets"] = new JsonArray("Linear"),
                    ["weights"] = weights,
                    ["input_activations"] = null,
                    ["output_activations"] = null,
                },
            },
        };
    }

    private static string Describe(int? groupSize) => groupSize is int g ? g.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none (channel)";
}
