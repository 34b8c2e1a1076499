using System.Runtime.Intrinsics;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>The vector width a SIMD driver runs at. Tests force each one; production uses <see cref="VectorWidths.Preferred"/>.</summary>
internal enum VectorWidth
{
    Scalar,
    V128,
    V256,
    V512,
}

internal static class VectorWidths
{
    /// <summary>The widest accelerated width (512 only when the runtime prefers it, as TensorPrimitives does).</summary>
    public static VectorWidth Preferred { get; } =
        Vector512.IsHardwareAccelerated ? VectorWidth.V512 :
        Vector256.IsHardwareAccelerated ? VectorWidth.V256 :
        Vector128.IsHardwareAccelerated ? VectorWidth.V128 : VectorWidth.Scalar;
}
