using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LowBitQuant.Kernels.Gpu;

namespace LowBitQuant.Tests.Kernels;

/// <summary>Every GPU kernel compiles to PTX (no GPU needed), so CI proves the CUDA path builds.</summary>
public sealed class PtxCompilationTests
{
    public static TheoryData<string, bool> Kernels => new()
    {
        { nameof(GramKernel) + "." + nameof(GramKernel.Run), true },
        { nameof(AffineKernel) + "." + nameof(AffineKernel.Quantize), false },
        { nameof(AffineKernel) + "." + nameof(AffineKernel.Dequantize), false },
        { nameof(FwhtKernel) + "." + nameof(FwhtKernel.Stage), false },
        { nameof(FwhtKernel) + "." + nameof(FwhtKernel.SharedRow), true },
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void KernelCompilesToPtx(string kernel, bool explicitlyGrouped)
    {
        var parts = kernel.Split('.');
        var type = typeof(GramKernel).Assembly.GetType($"LowBitQuant.Kernels.Gpu.{parts[0]}", throwOnError: true)!;
        var method = type.GetMethod(parts[1], BindingFlags.Public | BindingFlags.Static)!;

        // A fresh context per kernel: one failed compile poisons later compiles in the same context.
        using var context = Context.Create(builder => builder.Cuda());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_70), CudaArchitecture.SM_70, CudaInstructionSet.ISA_70, null);
        var entry = explicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
        Assert.Contains(".entry", compiled.PTXAssembly);
        if (explicitlyGrouped)
        {
            Assert.Contains("bar.sync", compiled.PTXAssembly);
            Assert.Contains(".shared", compiled.PTXAssembly);
        }
    }
}
