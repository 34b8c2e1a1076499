using LowBitQuant.Hessian;
using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

/// <summary>The GPU kernels run on ILGPU's CPU accelerator (a thread simulator) at small sizes, against the CPU references.</summary>
public sealed class IlgpuCpuGpuKernelsTests : IDisposable
{
    // One context per test class: a failed kernel compile poisons every later compile in the same ILGPU context.
    private readonly ComputeContext _compute = ComputeContext.CreateIlgpuCpuForTesting();

    public void Dispose() => _compute.Dispose();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(17, 20)]
    [InlineData(40, 16)]
    public void GramKernelMatchesFloat64Reference(int tokens, int columns)
    {
        var x = ReferenceHessian.Activations(tokens, columns, seed: tokens + (7 * columns));
        var acc = new PackedGramAccumulator(columns);
        _compute.GpuKernels!.AccumulateGram(x, acc);
        var actual = new float[columns * columns];
        acc.CopyScaledTo(1.0, actual);
        Assert.True(ReferenceHessian.MaxRelativeError(actual, ReferenceHessian.Gram(x, columns)) < 2e-6);
    }

    [Fact]
    public void FullEstimatorOnTheGpuContextMatchesTheCpuEstimator()
    {
        Assert.True(_compute.IsAccelerated);
        var x = ReferenceHessian.Activations(20, 18, seed: 3);
        using var gpu = HessianEstimator.Create(HessianKind.Full, 18, _compute);
        using var cpu = HessianEstimator.Create(HessianKind.Full, 18, ComputeContext.Cpu);
        gpu.Accumulate(x.AsSpan(0, 9 * 18));
        gpu.Accumulate(x.AsSpan(9 * 18));
        cpu.Accumulate(x);
        var g = gpu.Build().Matrix.Span;
        var c = cpu.Build().Matrix.ToArray().Select(v => (double)v).ToArray();
        Assert.True(ReferenceHessian.MaxRelativeError(g, c) < 2e-6);
    }

    [Theory]
    [InlineData(2, 1, false)]
    [InlineData(3, 7, true)]
    [InlineData(4, 16, false)]
    [InlineData(4, 5, true)]
    public void AffineKernelsAreBitIdenticalToCpuOperators(int bits, int groupSize, bool realZero)
    {
        int maxCode = (1 << bits) - 1;
        const int groups = 6;
        var rng = new Random(bits * 100 + groupSize);
        var x = new float[groups * groupSize];
        var scales = new float[groups];
        var zeros = new float[groups];
        for (int g = 0; g < groups; g++)
        {
            scales[g] = 0.01f + (float)rng.NextDouble();
            zeros[g] = realZero ? (float)(rng.NextDouble() * maxCode) : rng.Next(0, maxCode + 1);
            if (g == 0)
            {
                zeros[g] = 2.5f; // a tie in int(z): rounds half to even
            }

            for (int i = 0; i < groupSize; i++)
            {
                // Include exact ties x/s + frac(z) = k + 0.5 and out-of-range values that clamp.
                x[(g * groupSize) + i] = i % 3 == 0
                    ? scales[g] * ((i / 2) + 0.5f - (zeros[g] - MathF.Round(zeros[g])))
                    : scales[g] * (float)((rng.NextDouble() * (maxCode + 4)) - 2 - zeros[g]);
            }
        }

        var gpuCodes = new byte[x.Length];
        _compute.GpuKernels!.QuantizeAffine(x, scales, zeros, groupSize, maxCode, gpuCodes);
        var gpuDequant = new float[x.Length];
        _compute.GpuKernels!.DequantizeAffine(gpuCodes, scales, zeros, groupSize, gpuDequant);
        for (int i = 0; i < x.Length; i++)
        {
            int g = i / groupSize;
            Assert.Equal(AffineScalar.Quantize(x[i], scales[g], zeros[g], maxCode), gpuCodes[i]);
            Assert.Equal(AffineScalar.Dequantize(gpuCodes[i], scales[g], zeros[g]), gpuDequant[i]);
        }
    }

    [Fact]
    public void DisposedContextRefusesKernels()
    {
        var c = ComputeContext.CreateIlgpuCpuForTesting();
        c.Dispose();
        c.Dispose();
        Assert.Throws<ObjectDisposedException>(() => c.GpuKernels);
    }
}
