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
        var compiled = Compile(kernel, explicitlyGrouped);
        Assert.Contains(".entry", compiled);
        if (explicitlyGrouped)
        {
            Assert.Contains("bar.sync", compiled);
            Assert.Contains(".shared", compiled);
        }
    }

    /// <summary>
    /// DASH-Q must round every product on its own, as the CPU does: ILGPU's plain <c>mul.f32</c> may be fused by ptxas with a following
    /// add into an fma (one rounding), so the kernel's products are <c>mul.rn.f32</c> (explicit rounding, never fused) and no float32
    /// fma/mad or unrounded mul.f32 may appear. Division must be IEEE (<c>div.rn.f32</c>), not approximate.
    /// </summary>
    [Fact]
    public void DashQKernelRoundsEveryProductLikeTheCpu()
    {
        var solve = typeof(DashQKernel).GetMethod(nameof(DashQKernel.Solve))!.MakeGenericMethod(typeof(DashQKernel.RoundedPtxProduct));
        var ptx = Compile(solve, explicitlyGrouped: false);
        Assert.Contains(".entry", ptx);
        Assert.Contains("mul.rn.f32", ptx);
        Assert.Contains("div.rn.f32", ptx);
        Assert.DoesNotMatch(@"\b(fma|mad)(\.[a-z]+)*\.f32\b", ptx);
        Assert.DoesNotMatch(@"\bmul(\.ftz)?\.f32\b", ptx);
        Assert.DoesNotMatch(@"\bdiv\.(approx|full)", ptx);
    }

    private static string Compile(string kernel, bool explicitlyGrouped)
    {
        var parts = kernel.Split('.');
        var type = typeof(GramKernel).Assembly.GetType($"LowBitQuant.Kernels.Gpu.{parts[0]}", throwOnError: true)!;
        return Compile(type.GetMethod(parts[1], BindingFlags.Public | BindingFlags.Static)!, explicitlyGrouped);
    }

    private static string Compile(MethodInfo method, bool explicitlyGrouped)
    {
        // A fresh context per kernel: one failed compile poisons later compiles in the same context.
        using var context = Context.Create(builder => builder.Cuda());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_70), CudaArchitecture.SM_70, CudaInstructionSet.ISA_70, null);
        var entry = explicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
        if (Environment.GetEnvironmentVariable("LOWBITQUANT_DUMP_PTX") is { Length: > 0 } dump)
        {
            File.WriteAllText(Path.Combine(dump, method.DeclaringType!.Name + "." + method.Name + ".ptx"), compiled.PTXAssembly);
        }

        return compiled.PTXAssembly;
    }
}
