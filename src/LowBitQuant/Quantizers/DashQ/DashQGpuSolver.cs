using LowBitQuant.Kernels.Gpu;

namespace LowBitQuant.Quantizers;

/// <summary>
/// Host side of DASH-Q on a GPU: the normalised weights p on the CPU (the same <see cref="DashQSolver.NormalizedWeights"/> as the
/// CPU path), then one <see cref="DashQKernel"/> launch over every (row, group) of the layer, and the diagnostics counted from the
/// per-solve iterations and flags. Gives the same <see cref="DashQSolver.Result"/>, bit for bit, as <see cref="DashQSolver.Solve"/>.
/// </summary>
internal static class DashQGpuSolver
{
    /// <summary>Quantizes a whole layer on <paramref name="kernels"/>' accelerator. Inputs are already validated.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before or during the launch.</exception>
    public static DashQSolver.Result Solve(GpuKernels kernels, ReadOnlyMemory<float> weights, int rows, int columns, ReadOnlySpan<float> diagonal, DashQOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var settings = DashQKernelSettings.From(options, columns);
        var p = DashQSolver.NormalizedWeights(diagonal, settings.Width, out int uniformGroups, out int deadChannels);
        int solves = checked(rows * settings.Groups);
        var codes = new byte[checked(rows * columns)];
        var scales = new float[solves];
        var zeros = new float[solves];
        var iterations = new int[solves];
        var flags = new byte[solves];
        kernels.SolveDashQ(weights.Span, p, rows, settings, codes, scales, zeros, iterations, flags);
        cancellationToken.ThrowIfCancellationRequested();

        long iterationsRun = 0;
        int constantGroups = 0, unrounded = 0;
        for (int i = 0; i < solves; i++)
        {
            iterationsRun += iterations[i];
            constantGroups += (flags[i] & DashQKernel.ConstantFlag) != 0 ? 1 : 0;
            unrounded += (flags[i] & DashQKernel.UnroundedFlag) != 0 ? 1 : 0;
        }

        return new DashQSolver.Result(codes, scales, zeros, iterationsRun, uniformGroups, deadChannels, constantGroups, unrounded);
    }
}
