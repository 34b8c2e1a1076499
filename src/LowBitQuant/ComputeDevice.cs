namespace LowBitQuant;

/// <summary>Where a <see cref="ComputeContext"/> runs its kernels.</summary>
public enum ComputeDevice
{
    /// <summary>The largest GPU when one is present, else the CPU.</summary>
    Auto,

    /// <summary>The SIMD CPU kernels.</summary>
    Cpu,

    /// <summary>A GPU through ILGPU; creation fails when none is present.</summary>
    Gpu,
}
