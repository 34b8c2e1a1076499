using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Hessian;

/// <summary>
/// Running float64 sum of per-channel squares: h_j = Σ_t x[t, j]² / tokens (DASH-Q, llama.cpp imatrix).
/// Squares are summed in float32 over blocks of 128 tokens (TensorPrimitives), and the blocks in float64.
/// </summary>
internal sealed class DiagonalHessianEstimator : HessianEstimatorBase
{
    private readonly double[] _sums;

    public DiagonalHessianEstimator(int columns)
        : base(columns)
    {
        _sums = new double[columns];
    }

    public override HessianKind Kind => HessianKind.Diagonal;

    protected override void AccumulateCore(ReadOnlySpan<float> activations, int tokens) => CpuKernels.AccumulateSquares(activations, _sums);

    protected override HessianEstimate BuildCore(long tokens)
    {
        var diagonal = new float[Columns];
        for (int j = 0; j < diagonal.Length; j++)
        {
            diagonal[j] = (float)(_sums[j] / tokens);
        }

        return HessianEstimate.CreateUnchecked(HessianKind.Diagonal, Columns, tokens, diagonal, []);
    }
}
