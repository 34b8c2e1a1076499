using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Cli;

/// <summary>
/// The input of <c>quantize-layer</c>: a safetensors file with <c>weight</c> [out, in] (F32, F16 or BF16) and calibration as
/// exactly one of <c>inputs</c> [tokens, in], <c>hessian</c> [in, in] or <c>hessian_diag</c> [in].
/// </summary>
internal sealed class LayerCase
{
    private LayerCase(DenseMatrix weights, DenseMatrix? inputs, HessianEstimate hessian)
    {
        Weights = weights;
        Inputs = inputs;
        Hessian = hessian;
    }

    /// <summary>W [out, in].</summary>
    public DenseMatrix Weights { get; }

    /// <summary>The activations, when the file holds them.</summary>
    public DenseMatrix? Inputs { get; }

    /// <summary>H = XᵀX / tokens (full when the file holds inputs or a full Hessian; else diagonal).</summary>
    public HessianEstimate Hessian { get; }

    public static LayerCase Load(string path)
    {
        using var reader = SafetensorsReader.Open(path);
        var weights = ReadMatrix(reader, "weight", path);
        string[] present = [.. new[] { "inputs", "hessian", "hessian_diag" }.Where(reader.Tensors.ContainsKey)];
        if (present.Length != 1)
        {
            throw new ArgumentException(present.Length == 0
                ? $"'{path}' holds no calibration: add one of 'inputs' [tokens, in], 'hessian' [in, in] or 'hessian_diag' [in]."
                : $"'{path}' holds several calibration tensors ({string.Join(", ", present)}); keep exactly one.");
        }

        switch (present[0])
        {
            case "inputs":
                var inputs = ReadMatrix(reader, "inputs", path);
                RequireColumns(inputs.Columns, weights.Columns, "inputs", path);
                if (inputs.Rows == 0)
                {
                    throw new ArgumentException($"Tensor 'inputs' in '{path}' holds no tokens.");
                }

                return new LayerCase(weights, inputs, HessianEstimator.Estimate(HessianKind.Full, inputs));
            case "hessian":
                var h = ReadMatrix(reader, "hessian", path);
                if (h.Rows != h.Columns)
                {
                    throw new ArgumentException($"Tensor 'hessian' in '{path}' is {h.Rows} × {h.Columns}; it must be square.");
                }

                RequireColumns(h.Columns, weights.Columns, "hessian", path);
                return new LayerCase(weights, null, HessianEstimate.FromMatrix(h.Data.Span, h.Rows, SampleCount(reader)));
            default:
                var info = reader.Tensors["hessian_diag"];
                if (info.Shape.Length != 1)
                {
                    throw new ArgumentException($"Tensor 'hessian_diag' in '{path}' has shape [{string.Join(", ", info.Shape)}]; it must be one-dimensional.");
                }

                var diag = reader.ReadAsSingle("hessian_diag");
                RequireColumns(diag.Length, weights.Columns, "hessian_diag", path);
                return new LayerCase(weights, null, HessianEstimate.FromDiagonal(diag, SampleCount(reader)));
        }
    }

    private static long SampleCount(SafetensorsReader reader) =>
        reader.Metadata.TryGetValue("tokens", out string? t) && long.TryParse(t, out long n) && n > 0 ? n : 1;

    private static void RequireColumns(int actual, int expected, string tensor, string path)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"Tensor '{tensor}' in '{path}' has {actual} input channels but 'weight' has {expected}; they must match.");
        }
    }

    private static DenseMatrix ReadMatrix(SafetensorsReader reader, string name, string path)
    {
        if (!reader.Tensors.TryGetValue(name, out var info))
        {
            throw new ArgumentException($"'{path}' has no tensor '{name}'.");
        }

        if (info.Shape.Length != 2)
        {
            throw new ArgumentException($"Tensor '{name}' in '{path}' has shape [{string.Join(", ", info.Shape)}]; expected two dimensions.");
        }

        if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
        {
            throw new ArgumentException($"Tensor '{name}' in '{path}' is {info.DType.GetName()}; expected F32, F16 or BF16.");
        }

        var data = reader.ReadAsSingle(name);
        return new DenseMatrix(data, checked((int)info.Shape[0]), checked((int)info.Shape[1]));
    }
}
