namespace LowBitQuant;

/// <summary>
/// An immutable quantization method (a definition, not a worker): turns a weight matrix and the
/// calibration statistics it asks for into a <see cref="QuantizedTensor"/>.
/// </summary>
public interface IQuantizer
{
    /// <summary>The grid every result of this quantizer uses.</summary>
    QuantizationScheme Scheme { get; }

    /// <summary>The calibration statistics <see cref="Quantize"/> needs; tells the caller what to accumulate.</summary>
    HessianKind RequiredHessian { get; }

    /// <summary>Quantizes a weight matrix [out, in].</summary>
    /// <param name="weights">Weights, one row per output channel; must be finite and non-empty.</param>
    /// <param name="hessian">Statistics of the layer's inputs of size <c>weights.Columns</c>; required unless <see cref="RequiredHessian"/> is <see cref="HessianKind.None"/>.</param>
    /// <param name="compute">Where to run; <see langword="null"/> for <see cref="ComputeContext.Cpu"/>.</param>
    /// <param name="cancellationToken">Cancels long work.</param>
    /// <returns>Codes, scales and zero points; dequantize it to measure what was really stored.</returns>
    /// <exception cref="ArgumentException">The weights are empty or not finite, or the Hessian is missing, of the wrong kind or size.</exception>
    QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default);
}
