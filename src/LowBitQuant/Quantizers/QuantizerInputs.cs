using LowBitQuant.Internal;

namespace LowBitQuant.Quantizers;

/// <summary>Validation shared by every quantizer's public entry point.</summary>
internal static class QuantizerInputs
{
    /// <summary>Checks the weights (non-empty, finite) and the Hessian (present when required, matching size and kind).</summary>
    public static void Validate(DenseMatrix weights, HessianEstimate? hessian, HessianKind required, string method)
    {
        if (weights.IsEmpty)
        {
            ThrowHelper.ThrowArgument(nameof(weights), $"Tensor 'weight' is empty ({weights.Rows} × {weights.Columns}); there is nothing to quantize.");
        }

        ThrowHelper.ThrowIfNotFinite(weights.Data.Span, nameof(weights), "weight", weights.Columns);
        if (hessian is null)
        {
            if (required != HessianKind.None)
            {
                ThrowHelper.ThrowArgument(nameof(hessian), $"{method} needs a {required.ToString().ToLowerInvariant()} Hessian of the layer's inputs (calibration data); none was given.");
            }

            return;
        }

        if (hessian.Size != weights.Columns)
        {
            ThrowHelper.ThrowArgument(nameof(hessian), $"The Hessian has size {hessian.Size} but the weight has {weights.Columns} input columns; they must match.");
        }

        if (required == HessianKind.Full && hessian.Kind != HessianKind.Full)
        {
            ThrowHelper.ThrowArgument(nameof(hessian), $"{method} needs a full Hessian, but a {hessian.Kind.ToString().ToLowerInvariant()} one was given.");
        }
    }
}
