namespace LowBitQuant.Cli;

/// <summary>Turns calibration activations into Hessian estimates with the library's streaming estimator.</summary>
internal static class Calibration
{
    public static HessianEstimate FullHessian(DenseMatrix inputs)
    {
        if (inputs.Rows == 0)
        {
            throw new ArgumentException("Tensor 'inputs' holds no tokens.");
        }

        using var estimator = HessianEstimator.Create(HessianKind.Full, inputs.Columns, ComputeContext.Cpu);
        estimator.Accumulate(inputs.Data.Span);
        return estimator.Build();
    }
}
