using System.Globalization;
using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant;

/// <summary>
/// Saves and loads a <see cref="HessianEstimate"/> as safetensors (compute once, quantize many times).
/// Layout: tensor <c>diagonal</c> F32 [n]; for a full estimate also <c>matrix</c> F32 [n, n] (row-major, symmetric);
/// metadata <c>content</c> = <c>lowbitquant.hessian</c>, <c>kind</c> = <c>Diagonal</c> | <c>Full</c>, <c>sample_count</c> = tokens (decimal).
/// </summary>
public static class HessianEstimateFile
{
    /// <summary>The <c>content</c> metadata value that marks a Hessian file.</summary>
    public const string FormatName = "lowbitquant.hessian";

    /// <summary>Writes <paramref name="estimate"/> to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static void Save(HessianEstimate estimate, string path)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        ArgumentNullException.ThrowIfNull(path);
        var metadata = new Dictionary<string, string>
        {
            ["content"] = FormatName,
            ["kind"] = estimate.Kind.ToString(),
            ["sample_count"] = estimate.SampleCount.ToString(CultureInfo.InvariantCulture),
        };
        using var writer = SafetensorsWriter.Create(path, metadata);
        writer.AddSingle("diagonal", [estimate.Size], estimate.Diagonal.Span);
        if (estimate.Kind == HessianKind.Full)
        {
            writer.AddSingle("matrix", [estimate.Size, estimate.Size], estimate.Matrix.Span);
        }

        writer.Save();
    }

    /// <summary>Reads an estimate written by <see cref="Save"/>, checking that the tensors form a valid estimate.</summary>
    /// <exception cref="InvalidDataException">The file is not a Hessian file, or its tensors do not form a valid estimate (the message names the file and the rule).</exception>
    /// <exception cref="InvalidSafetensorsException">The file is not valid safetensors.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static HessianEstimate Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var reader = SafetensorsReader.Open(path);
        string Fail(string rule) => throw new InvalidDataException($"'{path}' is not a valid Hessian estimate: {rule}.");
        if (!reader.Metadata.TryGetValue("content", out var format) || format != FormatName)
        {
            Fail($"metadata 'content' must be '{FormatName}'");
        }

        if (!reader.Metadata.TryGetValue("kind", out var kindText) || !Enum.TryParse<HessianKind>(kindText, out var kind) || kind is not (HessianKind.Diagonal or HessianKind.Full))
        {
            Fail("metadata 'kind' must be 'Diagonal' or 'Full'");
        }

        if (!reader.Metadata.TryGetValue("sample_count", out var countText) || !long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out long count) || count <= 0)
        {
            Fail("metadata 'sample_count' must be a positive integer");
        }

        if (!reader.Tensors.TryGetValue("diagonal", out var diagInfo) || diagInfo.DType != SafetensorsDType.F32 || diagInfo.Shape.Length != 1 || diagInfo.Shape[0] < 1)
        {
            Fail("tensor 'diagonal' must be F32 with shape [n], n ≥ 1");
        }

        int n = checked((int)diagInfo!.Shape[0]);
        var diagonal = reader.ReadAsSingle("diagonal");
        try
        {
            if (kind == HessianKind.Diagonal)
            {
                if (reader.Tensors.ContainsKey("matrix"))
                {
                    Fail("a Diagonal estimate must not hold a 'matrix' tensor");
                }

                return HessianEstimate.FromDiagonal(diagonal, count);
            }

            if (!reader.Tensors.TryGetValue("matrix", out var mInfo) || mInfo.DType != SafetensorsDType.F32 || mInfo.Shape.Length != 2 || mInfo.Shape[0] != n || mInfo.Shape[1] != n)
            {
                Fail($"a Full estimate needs tensor 'matrix' F32 with shape [{n}, {n}] matching 'diagonal'");
            }

            var estimate = HessianEstimate.FromMatrix(reader.ReadAsSingle("matrix"), n, count);
            if (!estimate.Diagonal.Span.SequenceEqual(diagonal))
            {
                Fail("tensor 'diagonal' differs from the diagonal of 'matrix'");
            }

            return estimate;
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"'{path}' is not a valid Hessian estimate: {ex.Message}", ex);
        }
    }
}
