using LowBitQuant.Formats.CompressedTensors;
using LowBitQuant.Formats.DashQ;
using LowBitQuant.Formats.Gptq;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// Which linear modules a checkpoint stores quantized and which in full precision (with the reason), decided for every module
/// before anything is written; modules the format cannot represent for other reasons are reported together as one error.
/// </summary>
internal sealed class ModulePlan
{
    private ModulePlan(List<(string, int, LlamaTensor, QuantizedTensor)> quantized, List<ExcludedModule> excluded)
    {
        Quantized = quantized;
        Excluded = excluded;
    }

    /// <summary>Modules stored quantized, in model order (tensors in the source's row order).</summary>
    public IReadOnlyList<(string Name, int Layer, LlamaTensor Tensor, QuantizedTensor Quantized)> Quantized { get; }

    /// <summary>Linear modules stored in full precision, in model order.</summary>
    public IReadOnlyList<ExcludedModule> Excluded { get; }

    /// <exception cref="ArgumentException">See <see cref="QuantizedCheckpointWriter.Write"/> (parameter <c>modules</c>).</exception>
    public static ModulePlan Create(LlamaConfig config, IReadOnlyDictionary<string, QuantizedTensor> modules, QuantizedCheckpointFormat format, PackQuantizedOptions? ctOptions)
    {
        const string Param = "modules";
        foreach (var (key, value) in modules)
        {
            if (key is null || !config.TryParseModuleName(key, out _, out _))
            {
                ThrowHelper.ThrowArgument(Param, $"'{key}' is not a linear module of this model (names look like '{config.GetModuleName(LlamaTensor.QueryProjection, 0)}', layers 0 to {config.Layers - 1}).");
            }

            if (value is null)
            {
                ThrowHelper.ThrowArgument(Param, $"Module '{key}' has a null tensor.");
            }
        }

        var quantized = new List<(string, int, LlamaTensor, QuantizedTensor)>();
        var excluded = new List<ExcludedModule>();
        var errors = new List<string>();
        (string Name, QuantizationScheme Scheme)? first = null;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                string name = config.GetModuleName(t, layer);
                if (!modules.TryGetValue(name, out QuantizedTensor? q))
                {
                    excluded.Add(new ExcludedModule(name, "no quantized tensor was given for it; stored in full precision"));
                    continue;
                }

                (int rows, int columns) = config.GetShape(t);
                if (q.Rows != rows || q.Columns != columns)
                {
                    errors.Add($"module '{name}' is [{q.Rows}, {q.Columns}], but the model's weight is [{rows}, {columns}] (out, in)");
                    continue;
                }

                string? reason = null;
                switch (format)
                {
                    case QuantizedCheckpointFormat.Gptq:
                        if (rows % 32 != 0 || columns % 32 != 0)
                        {
                            excluded.Add(new ExcludedModule(
                                name,
                                $"GPTQ packing needs in and out channels that are multiples of 32; this module has out = {rows}, in = {columns}; stored in full precision (never padded)"));
                            continue;
                        }

                        GptqPacker.CanPack(q, out reason);
                        break;
                    case QuantizedCheckpointFormat.CompressedTensors:
                        PackQuantizedPacker.CanPack(q, ctOptions, out reason);
                        break;
                    default:
                        DashQPackedWriter.CanWrite(q, out reason);
                        break;
                }

                if (reason is not null)
                {
                    errors.Add($"module '{name}' [out {rows}, in {columns}] cannot be stored as {format}: {reason}");
                    continue;
                }

                if (format != QuantizedCheckpointFormat.DashQ)
                {
                    QuantizationScheme s = q.Scheme;
                    if (first is null)
                    {
                        first = (name, s);
                    }
                    else if (first.Value.Scheme.Bits != s.Bits || first.Value.Scheme.GroupSize != s.GroupSize || first.Value.Scheme.Symmetric != s.Symmetric)
                    {
                        errors.Add($"module '{name}' uses {s} while '{first.Value.Name}' uses {first.Value.Scheme}; one {format} checkpoint has one configuration");
                        continue;
                    }
                }

                quantized.Add((name, layer, t, q));
            }
        }

        if (errors.Count > 0)
        {
            string more = errors.Count > 1 ? $" ({errors.Count - 1} more module(s) cannot be stored either)" : string.Empty;
            ThrowHelper.ThrowArgument(Param, $"Cannot write the {format} checkpoint: {errors[0]}{more}. Nothing was written.");
        }

        if (quantized.Count == 0)
        {
            string why = excluded.Count > 0 ? $" (e.g. '{excluded[0].Name}': {excluded[0].Reason})" : string.Empty;
            ThrowHelper.ThrowArgument(Param, $"No module can be stored quantized in the {format} format{why}.");
        }

        return new ModulePlan(quantized, excluded);
    }
}
