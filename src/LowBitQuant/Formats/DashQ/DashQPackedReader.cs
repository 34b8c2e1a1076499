using System.Text.Json;

namespace LowBitQuant.Formats.DashQ;

/// <summary>Reads dashq_config.json and unpacks a module's tensors back into a <see cref="QuantizedTensor"/> (formats/dashq-packed.md).</summary>
public static class DashQPackedReader
{
    /// <summary>Reads and validates dashq_config.json.</summary>
    /// <exception cref="InvalidDashQCheckpointException">The file is not valid JSON or breaks a rule of the format.</exception>
    public static IReadOnlyDictionary<string, DashQModuleEntry> ReadConfig(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ParseConfig(File.ReadAllText(path), path);
    }

    /// <summary>Parses dashq_config.json text; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDashQCheckpointException">The text is not valid JSON or breaks a rule of the format.</exception>
    public static IReadOnlyDictionary<string, DashQModuleEntry> ParseConfig(string json, string source = "dashq_config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDashQCheckpointException($"{source}: not valid JSON ({ex.Message}).", ex);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != DashQPackedWriter.FormatName)
            {
                throw new InvalidDashQCheckpointException($"{source}: 'format' must be \"{DashQPackedWriter.FormatName}\".");
            }

            if (!root.TryGetProperty("quantized_modules", out var modules) || modules.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDashQCheckpointException($"{source}: 'quantized_modules' (an object) is required.");
            }

            var result = new Dictionary<string, DashQModuleEntry>(StringComparer.Ordinal);
            foreach (var module in modules.EnumerateObject())
            {
                result[module.Name] = ParseEntry(module.Value, $"{source}: module '{module.Name}'");
            }

            return result;
        }
    }

    /// <summary>Unpacks one module: codes from <paramref name="packedCodes"/>, and the scale and zero tensors already decoded to float.</summary>
    /// <param name="entry">The module's config entry.</param>
    /// <param name="packedCodes"><c>W_q_packed</c>.</param>
    /// <param name="scale"><c>scale</c>, num_groups values.</param>
    /// <param name="zero"><c>zero</c>, num_groups values.</param>
    /// <param name="module">The module name, for errors.</param>
    /// <exception cref="InvalidDashQCheckpointException">A tensor has the wrong length, or a scale or zero is not usable.</exception>
    public static QuantizedTensor Unpack(DashQModuleEntry entry, ReadOnlySpan<int> packedCodes, ReadOnlySpan<float> scale, ReadOnlySpan<float> zero, string module = "module")
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (packedCodes.Length != entry.PackedLength)
        {
            throw new InvalidDashQCheckpointException($"{module}.W_q_packed has {packedCodes.Length} words; {entry.PackedLength} are expected for {entry.OutFeatures} × {entry.QuantInFeatures} {entry.Bits}-bit codes.");
        }

        if (scale.Length != entry.GroupCount || zero.Length != entry.GroupCount)
        {
            throw new InvalidDashQCheckpointException($"{module}: scale has {scale.Length} and zero {zero.Length} values; num_groups is {entry.GroupCount}.");
        }

        var codes = DashQPacking.Unpack(packedCodes, entry.Bits, checked(entry.OutFeatures * entry.QuantInFeatures));
        try
        {
            return new QuantizedTensor(new QuantizationScheme(entry.Bits, entry.GroupSize), entry.OutFeatures, entry.InFeatures, codes, scale.ToArray(), zero.ToArray(), diagnostics: new QuantizationDiagnostics { Method = "dashq-packed" });
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDashQCheckpointException($"{module}: {ex.Message}", ex);
        }
    }

    private static DashQModuleEntry ParseEntry(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDashQCheckpointException($"{where}: an entry must be an object.");
        }

        int Required(string name)
        {
            if (!e.TryGetProperty(name, out var v) || !v.TryGetInt32(out int value) || value <= 0)
            {
                throw new InvalidDashQCheckpointException($"{where}: '{name}' must be a positive integer.");
            }

            return value;
        }

        int inFeatures = Required("in_features"), outFeatures = Required("out_features"), bits = Required("nbits"), groupSize = Required("group_size");
        int quantIn = e.TryGetProperty("quant_in_features", out _) ? Required("quant_in_features") : inFeatures;
        string dtype = e.TryGetProperty("scale_zero_dtype", out var d) ? d.GetString() ?? "" : "float16";
        string linear = e.TryGetProperty("linear_dtype", out var l) ? l.GetString() ?? "" : "bfloat16";
        if (!DashQModuleEntry.KnownScaleZeroDTypes.Contains(dtype))
        {
            throw new InvalidDashQCheckpointException($"{where}: scale_zero_dtype '{dtype}' is unknown (the authors' loader would silently fall back to float16).");
        }

        if (bits is < QuantizationScheme.MinBits or > QuantizationScheme.MaxBits)
        {
            throw new InvalidDashQCheckpointException($"{where}: nbits {bits} is outside the {QuantizationScheme.MinBits}–{QuantizationScheme.MaxBits} bits LowBitQuant reads.");
        }

        if (quantIn != inFeatures)
        {
            throw new InvalidDashQCheckpointException($"{where}: quant_in_features {quantIn} differs from in_features {inFeatures}; the runtime cannot load such a module.");
        }

        if (inFeatures % groupSize != 0)
        {
            throw new InvalidDashQCheckpointException($"{where}: group_size {groupSize} does not divide in_features {inFeatures}; groups across rows are not read.");
        }

        var entry = new DashQModuleEntry(inFeatures, outFeatures, quantIn, bits, groupSize, dtype, linear);
        if (!e.TryGetProperty("num_groups", out var ng) || !ng.TryGetInt64(out long groups) || groups != entry.GroupCount)
        {
            throw new InvalidDashQCheckpointException($"{where}: num_groups must equal out_features · quant_in_features / group_size = {entry.GroupCount}.");
        }

        return entry;
    }
}
