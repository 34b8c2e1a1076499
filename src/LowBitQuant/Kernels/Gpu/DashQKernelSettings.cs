namespace LowBitQuant.Kernels.Gpu;

/// <summary>
/// The layer shape and the DASH-Q settings of one <see cref="DashQKernel.Solve"/> launch, as float32 exactly as the CPU
/// <c>DashQGroupSolve</c> converts them (flags as 0/1 ints: kernel parameters are plain unmanaged values).
/// </summary>
internal readonly record struct DashQKernelSettings(
    int Columns,
    int Groups,
    int Width,
    float MaxCode,
    int Iterations,
    float Alpha,
    float Beta,
    float Ridge,
    int EarlyStop,
    int IntegerZero,
    int RangeCandidates,
    float RangeCandidateStep,
    int RoundToFloat16)
{
    /// <summary>The settings of <paramref name="options"/> for a layer of <paramref name="columns"/> columns.</summary>
    public static DashQKernelSettings From(DashQOptions options, int columns) => new(
        columns,
        options.Scheme.GroupCount(columns),
        options.Scheme.GroupWidth(columns),
        options.Scheme.MaxCode,
        options.Iterations,
        (float)options.Damping,
        (float)(1 - options.Damping),
        (float)options.Ridge,
        options.EarlyStop ? 1 : 0,
        options.IntegerZeroPoint ? 1 : 0,
        options.RangeCandidates,
        (float)options.RangeCandidateStep,
        options.RoundToFloat16 ? 1 : 0);
}
