using System.Text;
using System.Text.Json;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.DashQ;

/// <summary>
/// Writes quantized linears in the DASH-Q authors' packed format (<c>dashq-packed-linear</c>, formats/dashq-packed.md): packed codes,
/// float16 scales and real-valued zeros per group, and the dashq_config.json that lists the modules.
/// </summary>
/// <remarks>
/// Representable: natural column order (no g_idx), no input transform, bits 2–8, a group size that divides the row
/// (<c>quant_in_features = in_features</c>: the authors' runtime cannot express padded groups), and scales/zeros that float16 holds
/// (positive finite scales, finite zeros). Anything else is rejected with the reason.
/// </remarks>
public static class DashQPackedWriter
{
    /// <summary>The format label the loader requires.</summary>
    public const string FormatName = "dashq-packed-linear";

    /// <summary>Whether <paramref name="tensor"/> can be written in this format; <paramref name="reason"/> says why not.</summary>
    public static bool CanWrite(QuantizedTensor tensor, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        int width = tensor.Scheme.GroupWidth(tensor.Columns);
        reason = null;
        if (!tensor.GroupIndex.IsEmpty)
        {
            reason = "a column order with a group index (act-order) is not representable; the format groups consecutive columns";
        }
        else if (tensor.InputTransform is not null)
        {
            reason = "an input transform (HeRo-Q) is not representable; fold it into the weights first";
        }
        else if (tensor.Columns % width != 0)
        {
            reason = $"group size {width} does not divide in_features {tensor.Columns}; the authors' runtime cannot express padded groups";
        }
        else
        {
            var s = tensor.Scales.Span;
            var z = tensor.Zeros.Span;
            for (int i = 0; i < s.Length; i++)
            {
                float hs = (float)(Half)s[i], hz = (float)(Half)z[i];
                if (!(hs > 0 && float.IsFinite(hs)) || !float.IsFinite(hz))
                {
                    reason = $"group {i} has scale {s[i]} / zero {z[i]}, which float16 cannot hold (scale_zero_dtype float16)";
                    break;
                }
            }
        }

        return reason is null;
    }

    /// <summary>Packs one tensor: codes LSB-first, scales and zeros rounded to float16 (exact when the quantizer already rounded them).</summary>
    /// <param name="tensor">The quantized linear.</param>
    /// <param name="linearDType">The <c>linear_dtype</c> to record (bias and dequantized weight dtype).</param>
    /// <exception cref="ArgumentException">The tensor cannot be written (see <see cref="CanWrite"/>).</exception>
    public static DashQPackedModule Pack(QuantizedTensor tensor, string linearDType = "bfloat16")
    {
        if (!CanWrite(tensor, out string? reason))
        {
            ThrowHelper.ThrowArgument(nameof(tensor), $"Cannot write this tensor in the DASH-Q packed format: {reason}.");
        }

        var entry = new DashQModuleEntry(tensor.Columns, tensor.Rows, tensor.Columns, tensor.Scheme.Bits, tensor.Scheme.GroupWidth(tensor.Columns), "float16", linearDType);
        var words = DashQPacking.Pack(tensor.Codes.Span, tensor.Scheme.Bits);
        var scale = new Half[tensor.Scales.Length];
        var zero = new Half[tensor.Zeros.Length];
        for (int i = 0; i < scale.Length; i++)
        {
            scale[i] = (Half)tensor.Scales.Span[i];
            zero[i] = (Half)tensor.Zeros.Span[i];
        }

        return new DashQPackedModule(entry, words, scale, zero);
    }

    /// <summary>The dashq_config.json text for the given modules (sorted by name, so the output is deterministic).</summary>
    /// <param name="modules">Module name → entry.</param>
    /// <param name="modelClass"><c>"causal_lm"</c> or <c>"image_text_to_text"</c>.</param>
    /// <exception cref="ArgumentException">No module is given, or <paramref name="modelClass"/> is not one of the two names.</exception>
    public static string SerializeConfig(IReadOnlyDictionary<string, DashQModuleEntry> modules, string modelClass = "causal_lm")
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Count == 0)
        {
            ThrowHelper.ThrowArgument(nameof(modules), "A dashq_config.json needs at least one quantized module.");
        }

        if (modelClass is not ("causal_lm" or "image_text_to_text"))
        {
            ThrowHelper.ThrowArgument(nameof(modelClass), $"model_class '{modelClass}' is not one the loader knows (causal_lm, image_text_to_text).");
        }

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("format", FormatName);
            json.WriteString("model_class", modelClass);
            json.WriteStartObject("quantized_modules");
            foreach (var (name, e) in modules.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                json.WriteStartObject(name);
                json.WriteNumber("in_features", e.InFeatures);
                json.WriteNumber("out_features", e.OutFeatures);
                json.WriteNumber("quant_in_features", e.QuantInFeatures);
                json.WriteNumber("nbits", e.Bits);
                json.WriteNumber("group_size", e.GroupSize);
                json.WriteNumber("num_groups", e.GroupCount);
                json.WriteString("scale_zero_dtype", e.ScaleZeroDType);
                json.WriteString("linear_dtype", e.LinearDType);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>Writes dashq_config.json atomically (temporary file in the same folder, then rename).</summary>
    /// <exception cref="ArgumentException">See <see cref="SerializeConfig"/>.</exception>
    public static void WriteConfig(string path, IReadOnlyDictionary<string, DashQModuleEntry> modules, string modelClass = "causal_lm")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text = SerializeConfig(modules, modelClass);
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temp, text, new UTF8Encoding(false));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
