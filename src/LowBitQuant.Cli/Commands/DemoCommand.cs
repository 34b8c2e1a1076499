using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LowBitQuant.Internal;
using Spectre.Console;

namespace LowBitQuant.Cli.Commands;

/// <summary><c>lowbitquant demo</c>: quantizes a seeded LLM-like layer with every method at 2, 3 and 4 bits and prints a table.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var rows = new Option<int>("--rows") { Description = "Output channels of the synthetic layer.", DefaultValueFactory = _ => 256 };
        var columns = new Option<int>("--columns") { Description = "Input channels of the synthetic layer.", DefaultValueFactory = _ => 512 };
        var tokens = new Option<int>("--tokens") { Description = "Calibration tokens.", DefaultValueFactory = _ => 2048 };
        var groupSize = new Option<int>("--group-size") { Description = "Group size (0 = one group per row).", DefaultValueFactory = _ => 128 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic layer.", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var command = new Command("demo", "Quantize a seeded LLM-like layer (heavy-tailed weights, outlier channels, correlated activations) with every method at 2, 3 and 4 bits.")
        {
            rows, columns, tokens, groupSize, seed, json,
        };
        command.SetAction(p => CommandRunner.Run(ct => Run(p.GetValue(rows), p.GetValue(columns), p.GetValue(tokens), p.GetValue(groupSize), p.GetValue(seed), p.GetValue(json), ct)));
        return command;
    }

    private static int Run(int rows, int columns, int tokens, int groupSize, int seed, bool json, CancellationToken ct)
    {
        if (rows <= 0 || columns <= 0 || tokens <= 0)
        {
            throw new ArgumentException("--rows, --columns and --tokens must be positive.");
        }

        var layer = SyntheticLayer.Create(rows, columns, tokens, seed);
        var results = new List<DemoResult>();
        foreach (string method in QuantizerFactory.Methods)
        {
            foreach (int bits in new[] { 2, 3, 4 })
            {
                ct.ThrowIfCancellationRequested();
                var scheme = new QuantizationScheme(bits, groupSize == 0 ? null : groupSize);
                // GPTQ runs in the library's default order (act-order with static groups); HeRo-Q wraps GPTQ, the strongest inner method.
                var quantizer = QuantizerFactory.Create(new MethodOptions(method, scheme) { ActOrder = true, StaticGroups = true, Inner = method == "heroq" ? "gptq" : null });
                var h = quantizer.RequiredHessian == HessianKind.Diagonal ? layer.Hessian.ToDiagonal() : layer.Hessian;
                var watch = Stopwatch.StartNew();
                var q = quantizer.Quantize(layer.Weights, quantizer.RequiredHessian == HessianKind.None ? null : h, null, ct);
                watch.Stop();
                var (loss, relative) = QuantizationError.Measure(layer.Weights, q.Dequantize().Data.Span, layer.Hessian);
                results.Add(new DemoResult(method, bits, groupSize, loss, relative, watch.Elapsed.TotalMilliseconds));
            }
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(results, CliJson.Options));
            return 0;
        }

        var table = new Table().Title($"LowBitQuant demo: {rows} × {columns} layer, {tokens} calibration tokens, seed {seed}")
            .AddColumns("method", "bits", "group", "proxy loss tr(ΔW·H·ΔWᵀ)", "relative output error", "time (ms)");
        foreach (var r in results)
        {
            table.AddRow(r.Method == "heroq" ? "heroq(gptq)" : r.Method, r.Bits.ToString(), r.GroupSize == 0 ? "row" : r.GroupSize.ToString(), r.ProxyLoss.ToString("G4"), r.RelativeOutputError.ToString("P2"), r.Milliseconds.ToString("F1"));
        }

        AnsiConsole.Write(table);
        return 0;
    }

    private sealed record DemoResult(string Method, int Bits, int GroupSize, double ProxyLoss, double RelativeOutputError, double Milliseconds);
}
