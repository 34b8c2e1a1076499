using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using LowBitQuant.Formats.DashQ;
using LowBitQuant.Formats.Gptq;
using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Cli.Commands;

/// <summary>
/// <c>lowbitquant quantize-layer</c>: quantizes one layer from a case file and writes the packed tensors, the weights
/// dequantized from exactly what was packed, and metadata (method, options, seconds, proxy loss).
/// </summary>
internal static class QuantizeLayerCommand
{
    private static readonly string[] Formats = ["gptq", "gptq-v2", "dashq"];

    public static Command Create()
    {
        var input = new Option<string>("--in") { Description = "Case file: 'weight' [out, in] and one of 'inputs' [tokens, in], 'hessian' [in, in], 'hessian_diag' [in].", Required = true };
        var output = new Option<string>("--out") { Description = "Result file (.safetensors), written atomically.", Required = true };
        var method = new Option<string>("--method") { Description = "rtn, gptq, dashq or heroq.", Required = true };
        var bits = new Option<int>("--bits") { Description = "Bits per weight (2, 3, 4 or 8 for GPTQ checkpoints).", Required = true };
        var groupSize = new Option<int>("--group-size") { Description = "Columns per group; 0 = one group per row.", DefaultValueFactory = _ => 128 };
        var sym = new Option<bool>("--sym") { Description = "Symmetric grid (zero point 2^(bits−1))." };
        var actOrder = new Option<bool>("--act-order") { Description = "GPTQ: process columns by decreasing Hessian diagonal." };
        var staticGroups = new Option<bool>("--static-groups") { Description = "GPTQ with --act-order: keep groups in the original column order (trivial g_idx)." };
        var damp = new Option<double?>("--damp") { Description = "GPTQ: damping as a fraction of mean(diag H) (default 0.01)." };
        var inner = new Option<string?>("--inner") { Description = "HeRo-Q: the inner quantizer (rtn, gptq or dashq)." };
        var format = new Option<string>("--format") { Description = "gptq (v1 when storable, else gptq_v2), gptq-v2, or dashq.", DefaultValueFactory = _ => "gptq" };
        var search = new Option<bool>("--search") { Description = "Search the grid range first (RTN/GPTQ clip search, DASH-Q range candidates)." };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON." };
        var command = new Command("quantize-layer", "Quantize one linear layer from a safetensors case file and write the packed result.")
        {
            input, output, method, bits, groupSize, sym, actOrder, staticGroups, damp, inner, format, search, json,
        };
        command.SetAction(p => CommandRunner.Run(ct =>
        {
            int g = p.GetValue(groupSize);
            if (g < 0)
            {
                throw new ArgumentException($"--group-size must be 0 (one group per row) or positive, got {g}.");
            }

            var scheme = new QuantizationScheme(p.GetValue(bits), g == 0 ? null : g, p.GetValue(sym));
            var options = new MethodOptions(p.GetValue(method)!, scheme)
            {
                ActOrder = p.GetValue(actOrder),
                StaticGroups = p.GetValue(staticGroups),
                Damping = p.GetValue(damp),
                Inner = p.GetValue(inner),
                Search = p.GetValue(search),
                IntegerZeros = p.GetValue(format)!.StartsWith("gptq", StringComparison.OrdinalIgnoreCase),
            };
            return Run(p.GetValue(input)!, p.GetValue(output)!, options, p.GetValue(format)!, p.GetValue(json), ct);
        }));
        return command;
    }

    private static int Run(string inputPath, string outputPath, MethodOptions options, string format, bool json, CancellationToken ct)
    {
        format = format.ToLowerInvariant();
        if (!Formats.Contains(format))
        {
            throw new ArgumentException($"Unknown --format '{format}'; expected one of {string.Join(", ", Formats)}.");
        }

        var quantizer = QuantizerFactory.Create(options);
        var layer = LayerCase.Load(inputPath);
        HessianEstimate? hessian = quantizer.RequiredHessian switch
        {
            HessianKind.None => null,
            HessianKind.Diagonal => layer.Hessian.ToDiagonal(),
            _ when layer.Hessian.Kind == HessianKind.Full => layer.Hessian,
            _ => throw new ArgumentException($"Method '{options.Method}' needs a full Hessian, but '{inputPath}' holds only 'hessian_diag'; provide 'inputs' or 'hessian'."),
        };

        var watch = Stopwatch.StartNew();
        var quantized = quantizer.Quantize(layer.Weights, hessian, null, ct);
        double seconds = watch.Elapsed.TotalSeconds;

        var metadata = new Dictionary<string, string>
        {
            ["method"] = quantized.Diagnostics.Method,
            ["bits"] = Invariant(options.Scheme.Bits),
            ["group_size"] = Invariant(options.Scheme.GroupSize ?? 0),
            ["sym"] = options.Scheme.Symmetric ? "true" : "false",
            ["act_order"] = options.ActOrder ? "true" : "false",
            ["static_groups"] = options.StaticGroups ? "true" : "false",
            ["format"] = "pt",
            ["quantized_seconds"] = Invariant(seconds),
            ["hessian"] = layer.Hessian.Kind.ToString().ToLowerInvariant(),
            ["library"] = $"lowbitquant:{typeof(IQuantizer).Assembly.GetName().Version}",
        };
        if (quantized.Diagnostics.Damping is double d)
        {
            metadata["damp"] = Invariant(d);
            metadata["damp_escalations"] = Invariant(quantized.Diagnostics.DampingEscalations);
        }

        if (quantized.Diagnostics.Fallback is string fallback)
        {
            metadata["fallback"] = fallback;
        }

        float[] dequantized;
        Action<SafetensorsWriter> addPacked;
        switch (format)
        {
            case "gptq" or "gptq-v2":
                if (!GptqPacker.CanPack(quantized, out string? reason))
                {
                    throw new ArgumentException($"The result cannot be written as a GPTQ checkpoint: {reason}");
                }

                var packed = GptqPacker.Pack(quantized, format == "gptq-v2" ? GptqZeroConvention.V2 : null);
                dequantized = packed.Dequantize().Data.ToArray();
                metadata["checkpoint_format"] = packed.CheckpointFormat;
                metadata["desc_act"] = packed.DescAct ? "true" : "false";
                addPacked = w =>
                {
                    w.AddInt32("qweight", Shape(packed.QWeightShape), packed.QWeight.Span);
                    w.AddInt32("qzeros", Shape(packed.QZerosShape), packed.QZeros.Span);
                    w.Add("scales", SafetensorsDType.F16, Shape(packed.ScalesShape), MemoryMarshal.AsBytes(packed.Scales.Span).ToArray());
                    w.AddInt32("g_idx", [packed.InFeatures], packed.GIdx.Span);
                };
                break;
            default:
                if (!DashQPackedWriter.CanWrite(quantized, out string? why))
                {
                    throw new ArgumentException($"The result cannot be written in the DASH-Q packed format: {why}");
                }

                var module = DashQPackedWriter.Pack(quantized);
                var scales = module.Scale.ToArray().Select(h => (float)h).ToArray();
                var zeros = module.Zero.ToArray().Select(h => (float)h).ToArray();
                dequantized = DashQPackedReader.Unpack(module.Entry, module.PackedCodes.Span, scales, zeros).Dequantize().Data.ToArray();
                metadata["checkpoint_format"] = DashQPackedWriter.FormatName;
                metadata["dashq_config"] = DashQPackedWriter.SerializeConfig(new Dictionary<string, DashQModuleEntry> { ["layer"] = module.Entry });
                addPacked = w =>
                {
                    w.AddInt32("W_q_packed", [module.PackedCodes.Length], module.PackedCodes.Span);
                    w.Add("scale", SafetensorsDType.F16, [module.Scale.Length, 1], MemoryMarshal.AsBytes(module.Scale.Span).ToArray());
                    w.Add("zero", SafetensorsDType.F16, [module.Zero.Length, 1], MemoryMarshal.AsBytes(module.Zero.Span).ToArray());
                };
                break;
        }

        var (loss, relative) = QuantizationError.Measure(layer.Weights, dequantized, layer.Hessian);
        metadata["proxy_loss"] = Invariant(loss);
        metadata["relative_output_error"] = Invariant(relative);

        ct.ThrowIfCancellationRequested();
        using (var writer = SafetensorsWriter.Create(outputPath, metadata))
        {
            writer.AddSingle("weight", [layer.Weights.Rows, layer.Weights.Columns], dequantized);
            addPacked(writer);
            writer.Save(ct);
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(metadata, CliJson.Options));
        }
        else
        {
            Console.WriteLine($"{quantized.Diagnostics.Method} {options.Scheme} → {outputPath} ({metadata["checkpoint_format"]}): " +
                $"proxy loss {loss:G4}, relative output error {relative:P2}, {seconds:F2} s");
        }

        return 0;
    }

    private static long[] Shape((int Rows, int Columns) shape) => [shape.Rows, shape.Columns];

    private static string Invariant(IFormattable value) => value.ToString(null, CultureInfo.InvariantCulture);
}
