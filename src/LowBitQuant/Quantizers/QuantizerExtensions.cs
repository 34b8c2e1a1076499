namespace LowBitQuant;

/// <summary>Convenience overloads of <see cref="IQuantizer.Quantize"/>; they add no logic.</summary>
public static class QuantizerExtensions
{
    /// <summary>Quantizes without calibration statistics (for quantizers whose <see cref="IQuantizer.RequiredHessian"/> is None).</summary>
    public static QuantizedTensor Quantize(this IQuantizer quantizer, DenseMatrix weights)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return quantizer.Quantize(weights, null);
    }

    /// <summary>Quantizes with calibration statistics on the CPU.</summary>
    public static QuantizedTensor Quantize(this IQuantizer quantizer, DenseMatrix weights, HessianEstimate hessian)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        return quantizer.Quantize(weights, hessian);
    }
}
