using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LowBitQuant.Formats.Safetensors;
using Spectre.Console;

namespace LowBitQuant.Cli.Commands;

/// <summary>
/// <c>lowbitquant hessian-report --in CASE.safetensors [--sequence-length L] [--json]</c>: how stable a layer's Hessian estimate is.
/// </summary>
/// <remarks>
/// Input file: tensor <c>inputs</c> (F32, F16 or BF16, shape [tokens, in_features]: one layer's calibration activations, row-major).
/// The sequence length comes from <c>--sequence-length</c>, else an I32 tensor <c>sequence_length</c> (shape [] or [1]),
/// else metadata <c>sequence_length</c> (decimal), else 128. It must divide the token count and leave at least two sequences.
/// </remarks>
internal static class HessianReportCommand
{
    /// <summary>Sequence length assumed when neither the option nor the file gives one.</summary>
    public const int DefaultSequenceLength = 128;

    public static Command Create()
    {
        var input = new Option<FileInfo>("--in") { Description = "Safetensors file holding 'inputs' [tokens, in] and optionally 'sequence_length'.", Required = true };
        var sequenceLength = new Option<int?>("--sequence-length") { Description = "Tokens per calibration sequence (overrides the file)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("hessian-report", "Report how stable a layer's Hessian estimate is as calibration grows (stability curve, per-sequence SNR, dead channels, eigenvalue range): does the calibration set suffice for GPTQ, or call for DASH-Q?")
        {
            input, sequenceLength, json,
        };
        command.SetAction(p => CommandRunner.Run(ct => Run(p.GetValue(input)!, p.GetValue(sequenceLength), p.GetValue(json), ct)));
        return command;
    }

    internal static int Run(FileInfo input, int? sequenceLengthOption, bool json, CancellationToken ct)
    {
        using var reader = SafetensorsReader.Open(input.FullName);
        if (!reader.Tensors.TryGetValue("inputs", out var info) || info.Shape.Length != 2)
        {
            throw new InvalidDataException($"'{input.Name}' must hold a tensor 'inputs' of shape [tokens, in_features].");
        }

        int tokens = checked((int)info.Shape[0]);
        int columns = checked((int)info.Shape[1]);
        var x = new float[(long)tokens * columns];
        reader.ReadAsSingle("inputs", x);
        int sequenceLength = sequenceLengthOption ?? ReadSequenceLength(reader, input.Name);
        if (sequenceLength <= 0 || tokens % sequenceLength != 0 || tokens / sequenceLength < 2)
        {
            throw new ArgumentException($"Sequence length {sequenceLength} must be positive, divide the {tokens} tokens of '{input.Name}' and leave at least two sequences; pass --sequence-length.");
        }

        var report = HessianDiagnostics.Analyze(new DenseMatrix(x, tokens, columns), sequenceLength, ct);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                report.Columns,
                report.Tokens,
                report.Sequences,
                report.SequenceLength,
                report.Stability,
                report.DiagonalSnr,
                report.OffDiagonalSnr,
                report.DeadChannels,
                report.LargestEigenvalue,
                report.SmallestEigenvalue,
                ConditionEstimate = double.IsInfinity(report.ConditionEstimate) ? (double?)null : report.ConditionEstimate,
            }, CliJson.Options));
            return 0;
        }

        var table = new Table().Title($"Hessian stability: {tokens} tokens × {columns} channels, {report.Sequences} sequences of {sequenceLength}")
            .AddColumns("sequences", "tokens", "diag rel. ℓ1 error", "off-diag rel. ℓ1 error");
        foreach (var p in report.Stability)
        {
            table.AddRow(p.Sequences.ToString(CultureInfo.InvariantCulture), p.Tokens.ToString(CultureInfo.InvariantCulture), p.DiagonalRelativeL1Error.ToString("P2", CultureInfo.InvariantCulture), p.OffDiagonalRelativeL1Error.ToString("P2", CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
        Console.WriteLine(FormattableString.Invariant($"Per-sequence SNR, diagonal:     p10 {report.DiagonalSnr.P10:G3}, median {report.DiagonalSnr.Median:G3}, p90 {report.DiagonalSnr.P90:G3}, below 1: {report.DiagonalSnr.FractionBelowOne:P1}"));
        Console.WriteLine(FormattableString.Invariant($"Per-sequence SNR, off-diagonal: p10 {report.OffDiagonalSnr.P10:G3}, median {report.OffDiagonalSnr.Median:G3}, p90 {report.OffDiagonalSnr.P90:G3}, below 1: {report.OffDiagonalSnr.FractionBelowOne:P1}"));
        Console.WriteLine(FormattableString.Invariant($"Dead channels: {report.DeadChannels}; λ_max {report.LargestEigenvalue:G4}, λ_min {report.SmallestEigenvalue:G4}, condition {(double.IsInfinity(report.ConditionEstimate) ? "singular (needs damping)" : report.ConditionEstimate.ToString("G3", CultureInfo.InvariantCulture))}"));
        return 0;
    }

    private static int ReadSequenceLength(SafetensorsReader reader, string file)
    {
        if (reader.Tensors.TryGetValue("sequence_length", out var info))
        {
            if (info.DType != SafetensorsDType.I32 || info.ElementCount != 1)
            {
                throw new InvalidDataException($"'{file}': tensor 'sequence_length' must be a single I32 value.");
            }

            var value = new int[1];
            reader.Read<int>("sequence_length", value);
            return value[0];
        }

        if (reader.Metadata.TryGetValue("sequence_length", out var text))
        {
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                ? v
                : throw new InvalidDataException($"'{file}': metadata 'sequence_length' must be a positive integer, not '{text}'.");
        }

        return DefaultSequenceLength;
    }
}
