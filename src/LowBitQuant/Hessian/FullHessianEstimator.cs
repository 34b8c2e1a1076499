using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Kernels.Gpu;

namespace LowBitQuant.Hessian;

/// <summary>
/// Running XᵀX over all tokens, resolved to H = XᵀX / tokens. Only the upper triangle is accumulated, in float64
/// tiles (<see cref="PackedGramAccumulator"/>); partial products are formed in float32 over at most 512 tokens
/// (CPU registers) or one GPU launch, then added in float64, so a long stream loses no accuracy.
/// </summary>
internal sealed class FullHessianEstimator : HessianEstimatorBase
{
    private readonly PackedGramAccumulator _accumulator;
    private readonly GpuKernels? _gpu;

    public FullHessianEstimator(int columns, ComputeContext compute)
        : base(columns)
    {
        _accumulator = new PackedGramAccumulator(columns);
        _gpu = compute.GpuKernels;
    }

    public override HessianKind Kind => HessianKind.Full;

    protected override void AccumulateCore(ReadOnlySpan<float> activations, int tokens)
    {
        if (_gpu is not null)
        {
            _gpu.AccumulateGram(activations, _accumulator);
        }
        else
        {
            CpuKernels.AccumulateGram(activations, _accumulator);
        }
    }

    protected override HessianEstimate BuildCore(long tokens)
    {
        int n = Columns;
        var matrix = new float[(long)n * n];
        _accumulator.CopyScaledTo(1.0 / tokens, matrix);
        var diagonal = new float[n];
        for (int i = 0; i < n; i++)
        {
            diagonal[i] = matrix[((long)i * n) + i];
        }

        return HessianEstimate.CreateUnchecked(HessianKind.Full, n, tokens, diagonal, matrix);
    }
}
