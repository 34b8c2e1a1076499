using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using LowBitQuant.Kernels.Gpu;

namespace LowBitQuant;

/// <summary>
/// Chooses where kernels run, once, and owns whatever that needs (an ILGPU context, accelerator and compiled kernels).
/// Create one per application with <see cref="Create"/> and dispose it with <c>using</c>;
/// <see cref="Cpu"/> is a shared SIMD-only instance that needs no disposal.
/// </summary>
/// <remarks>
/// Device choice: the CUDA device with the most memory, else an OpenCL GPU with the most memory, else the CPU SIMD kernels.
/// ILGPU's own CPU accelerator (a simulator of GPU threads, 100–3000× slower than the SIMD kernels) is never chosen;
/// it exists only for tests of the GPU kernels.
/// </remarks>
public sealed class ComputeContext : IDisposable
{
    private readonly Context? _context;
    private readonly Accelerator? _accelerator;
    private readonly GpuKernels? _kernels;
    private bool _disposed;

    private ComputeContext(string deviceName)
    {
        DeviceName = deviceName;
    }

    private ComputeContext(Context context, Accelerator accelerator, bool isAccelerated)
    {
        _context = context;
        _accelerator = accelerator;
        IsAccelerated = isAccelerated;
        DeviceName = $"{accelerator.AcceleratorType}: {accelerator.Name}";
        try
        {
            _kernels = new GpuKernels(accelerator);
        }
        catch
        {
            accelerator.Dispose();
            context.Dispose();
            throw;
        }
    }

    /// <summary>The shared CPU (SIMD) context.</summary>
    public static ComputeContext Cpu { get; } = new("CPU (SIMD)");

    /// <summary>Whether kernels run on a GPU.</summary>
    public bool IsAccelerated { get; }

    /// <summary>A human-readable name of the device in use.</summary>
    public string DeviceName { get; }

    /// <summary>
    /// Whether the accelerator is a real GPU (CUDA or OpenCL), not ILGPU's CPU simulator. Solvers that have both a CPU and a GPU
    /// implementation of a whole layer (DASH-Q) take the GPU one only then.
    /// </summary>
    internal bool RunsOnGpu => _accelerator?.AcceleratorType is AcceleratorType.Cuda or AcceleratorType.OpenCL;

    /// <summary>The compiled GPU kernels, or null for the CPU SIMD path.</summary>
    internal GpuKernels? GpuKernels => _disposed ? throw new ObjectDisposedException(nameof(ComputeContext)) : _kernels;

    /// <summary>Creates a context for <paramref name="device"/>.</summary>
    /// <param name="device"><see cref="ComputeDevice.Auto"/> picks the largest CUDA GPU, else the largest OpenCL GPU, else the CPU.</param>
    /// <returns>A context to dispose; <see cref="Cpu"/> when the CPU is chosen.</returns>
    /// <exception cref="NotSupportedException"><paramref name="device"/> is <see cref="ComputeDevice.Gpu"/> and no GPU can be used.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> is not a defined value.</exception>
    public static ComputeContext Create(ComputeDevice device = ComputeDevice.Auto)
    {
        switch (device)
        {
            case ComputeDevice.Cpu:
                return Cpu;
            case ComputeDevice.Auto:
                return TryCreateGpu(out _) ?? Cpu;
            case ComputeDevice.Gpu:
                return TryCreateGpu(out string? reason) ?? throw new NotSupportedException($"No usable GPU: {reason} Use ComputeDevice.Cpu or ComputeDevice.Auto.");
            default:
                throw new ArgumentOutOfRangeException(nameof(device), device, "Unknown compute device.");
        }
    }

    /// <summary>A context on ILGPU's CPU accelerator (a GPU simulator): for testing the GPU kernels without a GPU, never for real work.</summary>
    internal static ComputeContext CreateIlgpuCpuForTesting()
    {
        // One simulated multiprocessor with 16 warps of 16 threads: groups of up to 256 threads, enough for the 16 × 16 Gram tiles.
        var context = Context.Create(builder => builder.CPU(new CPUDevice(numThreadsPerWarp: 16, numWarpsPerMultiprocessor: 16, numMultiprocessors: 1)));
        try
        {
            var accelerator = context.CreateCPUAccelerator(0);
            return new ComputeContext(context, accelerator, isAccelerated: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed || _context is null)
        {
            return;
        }

        _disposed = true;
        _kernels?.Dispose();
        _accelerator?.Dispose();
        _context.Dispose();
    }

    private static Device? Largest(IEnumerable<Device> devices)
    {
        Device? best = null;
        foreach (var d in devices)
        {
            if (best is null || d.MemorySize > best.MemorySize)
            {
                best = d;
            }
        }

        return best;
    }

    private static ComputeContext? TryCreateGpu(out string? reason)
    {
        Context? context = null;
        try
        {
            context = Context.Create(builder => builder.Cuda().OpenCL());
            var cuda = new List<Device>();
            foreach (var d in context.GetCudaDevices())
            {
                cuda.Add(d);
            }

            var openCl = new List<Device>();
            foreach (var d in context.GetCLDevices())
            {
                if (d.DeviceType == CLDeviceType.CL_DEVICE_TYPE_GPU)
                {
                    openCl.Add(d);
                }
            }

            Device? chosen = Largest(cuda) ?? Largest(openCl);
            if (chosen is null)
            {
                reason = "no CUDA or OpenCL GPU was found.";
                context.Dispose();
                return null;
            }

            reason = null;
            return new ComputeContext(context, chosen.CreateAccelerator(context), isAccelerated: true);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            reason = $"GPU initialisation failed ({ex.GetType().Name}: {ex.Message}).";
            context?.Dispose();
            return null;
        }
    }
}
