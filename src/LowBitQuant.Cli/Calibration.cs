using LowBitQuant.Internal;

namespace LowBitQuant.Cli;

/// <summary>Turns calibration activations into Hessian estimates.</summary>
internal static class Calibration
{
    public static HessianEstimate FullHessian(DenseMatrix inputs)
    {
        if (inputs.Rows == 0)
        {
            throw new ArgumentException("Tensor 'inputs' holds no tokens.");
        }

        Internal.ThrowHelper.ThrowIfNotFinite(inputs.Data.Span, "inputs", "inputs", inputs.Columns);
        return SyntheticLayer.Gram(inputs.Data.ToArray(), inputs.Rows, inputs.Columns);
    }
}
