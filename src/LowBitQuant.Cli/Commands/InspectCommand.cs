using System.CommandLine;
using System.Text.Json;
using LowBitQuant.Formats.Safetensors;
using Spectre.Console;

namespace LowBitQuant.Cli.Commands;

/// <summary><c>lowbitquant inspect FILE [--json]</c>: tensors, dtypes, shapes, byte sizes and metadata of a safetensors file.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A .safetensors file." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var command = new Command("inspect", "List the tensors (dtype, shape, bytes) and metadata of a safetensors file.") { file, json };
        command.SetAction(p => CommandRunner.Run(_ => Run(p.GetValue(file)!, p.GetValue(json))));
        return command;
    }

    private static int Run(string path, bool json)
    {
        using var reader = SafetensorsReader.Open(path);
        var tensors = reader.Tensors.Values
            .Select(t => new TensorRow(t.Name, t.DType.GetName(), t.Shape.ToArray(), t.ByteLength))
            .ToArray();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { File = path, Metadata = reader.Metadata, Tensors = tensors }, CliJson.Options));
            return 0;
        }

        var table = new Table().Title(Markup.Escape(path)).AddColumns("tensor", "dtype", "shape", "bytes");
        foreach (var t in tensors)
        {
            table.AddRow(Markup.Escape(t.Name), t.Dtype, $"[{string.Join(", ", t.Shape)}]", t.Bytes.ToString("N0"));
        }

        AnsiConsole.Write(table);
        Console.WriteLine($"{tensors.Length} tensors, {tensors.Sum(t => t.Bytes):N0} bytes of data");
        foreach (var (key, value) in reader.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Console.WriteLine($"  {key} = {value}");
        }

        return 0;
    }

    private sealed record TensorRow(string Name, string Dtype, long[] Shape, long Bytes);
}
