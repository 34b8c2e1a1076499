namespace LowBitQuant;

/// <summary>
/// Chooses where kernels run, once, and owns whatever that needs (an ILGPU accelerator and its buffers).
/// Create one per application with <see cref="Create"/> and dispose it with <c>using</c>;
/// <see cref="Cpu"/> is a shared SIMD-only instance that needs no disposal.
/// </summary>
public sealed class ComputeContext : IDisposable
{
    private ComputeContext(string deviceName)
    {
        DeviceName = deviceName;
    }

    /// <summary>The shared CPU (SIMD) context.</summary>
    public static ComputeContext Cpu { get; } = new("CPU (SIMD)");

    /// <summary>Whether kernels run on a GPU.</summary>
    public bool IsAccelerated => false;

    /// <summary>A human-readable name of the device in use.</summary>
    public string DeviceName { get; }

    /// <summary>Creates a context for <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedException"><paramref name="device"/> is <see cref="ComputeDevice.Gpu"/> and no GPU can be used.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> is not a defined value.</exception>
    public static ComputeContext Create(ComputeDevice device = ComputeDevice.Auto) => device switch
    {
        ComputeDevice.Auto or ComputeDevice.Cpu => Cpu,
        ComputeDevice.Gpu => throw new NotSupportedException("No GPU backend is available in this build; use ComputeDevice.Cpu or ComputeDevice.Auto."),
        _ => throw new ArgumentOutOfRangeException(nameof(device), device, "Unknown compute device."),
    };

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
