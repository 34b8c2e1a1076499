using CsCheck;
using LowBitQuant.Kernels.Gpu;
using LowBitQuant.Quantizers;
using LowBitQuant.Tests.Quantizers;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

/// <summary>
/// The DASH-Q GPU kernel on ILGPU's CPU accelerator against the CPU solver: codes, scales, zeros (compared as bits) and every
/// diagnostic counter must be identical, over random and hand-picked shapes and settings.
/// </summary>
public sealed class IlgpuCpuDashQKernelTests : IDisposable
{
    // One context per test class: a failed kernel compile poisons every later compile in the same ILGPU context.
    private readonly ComputeContext _compute = ComputeContext.CreateIlgpuCpuForTesting();

    public void Dispose() => _compute.Dispose();

    [Fact]
    public void RandomLayersAreBitIdenticalToTheCpuSolver() =>
        DashQTestCase.Gen.Select(Gen.Int[0, 15]).Sample(
            (c, variant) => AssertSameAsCpu(c.Weights(), c.Rows, c.Columns, c.Diagonal(), c.Options(iterations: 1 + variant, earlyStop: (variant & 1) == 0, fp16: (variant & 2) == 0, integerZero: (variant & 4) != 0)),
            iter: 60,
            threads: 1);

    [Theory]
    [InlineData(1, 1, 2, null, false)]
    [InlineData(1, 2, 3, 2, true)]
    [InlineData(3, 7, 4, 3, false)]
    [InlineData(5, 33, 2, 32, true)]
    [InlineData(2, 130, 3, 64, false)]
    [InlineData(9, 17, 4, 1, true)]
    [InlineData(4, 41, 3, null, true)]
    public void ShapesAndSettingsAreBitIdenticalToTheCpuSolver(int rows, int columns, int bits, int? group, bool integerZero)
    {
        var c = new DashQTestCase(rows, columns, bits, group, (rows * 131) + columns, 0.5, 1e-2);
        var w = c.Weights();
        var h = c.Diagonal();
        AssertSameAsCpu(w, rows, columns, h, new DashQOptions(c.Scheme) { IntegerZeroPoint = integerZero });
        AssertSameAsCpu(w, rows, columns, h, new DashQOptions(c.Scheme) { IntegerZeroPoint = integerZero, RangeCandidates = 41 });
        AssertSameAsCpu(w, rows, columns, h, new DashQOptions(c.Scheme) { IntegerZeroPoint = integerZero, Iterations = 0, RoundToFloat16 = false });
        AssertSameAsCpu(w, rows, columns, h, new DashQOptions(c.Scheme) { IntegerZeroPoint = integerZero, Damping = 1, Ridge = 0, EarlyStop = false, Iterations = 4 });
    }

    [Fact]
    public void DeadChannelsDeadGroupsAndConstantGroupsMatchTheCpuSolver()
    {
        const int rows = 6, columns = 24, group = 8;
        var w = TestData.Normal(rows * columns, 11, 0.02f);
        var h = new float[columns];
        for (int j = 0; j < columns; j++)
        {
            h[j] = j < 8 ? 0f : j % 3 == 0 ? 0f : 0.5f + j; // the first group is dead, others have dead channels
        }

        // Constant groups: positive, negative, zero, one float16 rounds to 0 (kept float32), one past 65504 (kept float32), one subnormal in float16.
        float[] constants = [0.25f, -3.1f, 0f, 1e-9f, 1e6f, -3e-6f];
        for (int r = 0; r < rows; r++)
        {
            w.AsSpan((r * columns) + 8, group).Fill(constants[r]);
        }

        // Two-valued group with a tiny positive minimum: zero near 0 (float16 subnormal range), integer zero may round to −0.
        for (int j = 16; j < 24; j++)
        {
            w[j] = j % 2 == 0 ? 1e-7f : 0.01f;
        }

        foreach (bool integerZero in new[] { false, true })
        {
            foreach (bool fp16 in new[] { false, true })
            {
                var options = new DashQOptions(new QuantizationScheme(3, group)) { IntegerZeroPoint = integerZero, RoundToFloat16 = fp16 };
                var (gpu, cpu) = AssertSameAsCpu(w, rows, columns, h, options);
                Assert.Equal(0, gpu.UniformGroups); // the floor 1e-4·mean(h) still weights the dead group
                Assert.Equal(8 + 5, gpu.DeadChannels);
                Assert.Equal(rows, gpu.ConstantGroups);
                Assert.True(cpu.IterationsRun > 0);

                // No curvature at all: every group falls back to uniform weights.
                var (uniform, _) = AssertSameAsCpu(w, rows, columns, new float[columns], options);
                Assert.Equal(columns / group, uniform.UniformGroups);
                Assert.Equal(columns, uniform.DeadChannels);
            }
        }
    }

    [Fact]
    public void FloatSixteenRoundingEqualsTheHalfConversion()
    {
        var rng = new Random(5);
        var values = new List<float> { 0f, -0f, 1f, 65504f, 65520f, 65519.99f, 1e6f, 6.1035156e-5f, 6.1e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1e-9f, float.Epsilon, float.MaxValue };
        for (int i = 0; i < 20_000; i++)
        {
            values.Add(BitConverter.Int32BitsToSingle(rng.Next(0, 0x7F80_0000)));
            values.Add(BitConverter.Int32BitsToSingle(rng.Next(0x3300_0000, 0x4780_0000)) * (rng.Next(2) == 0 ? 1 : -1));
        }

        foreach (float x in values)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits((float)(Half)x), BitConverter.SingleToInt32Bits(DashQKernel.RoundToHalf(x)));
            Assert.Equal(BitConverter.SingleToInt32Bits((float)(Half)(-x)), BitConverter.SingleToInt32Bits(DashQKernel.RoundToHalf(-x)));
        }

        Assert.True(float.IsPositiveInfinity(DashQKernel.RoundToHalf(float.PositiveInfinity)));
        Assert.True(float.IsNaN(DashQKernel.RoundToHalf(float.NaN)));
    }

    [Fact]
    public void EmptyLayerLaunchesNothing()
    {
        var result = DashQGpuSolver.Solve(_compute.GpuKernels!, Array.Empty<float>(), 0, 4, new float[] { 1, 1, 1, 1 }, new DashQOptions(new QuantizationScheme(2, 2)), CancellationToken.None);
        Assert.Empty(result.Codes);
        Assert.Empty(result.Scales);
    }

    [Fact]
    public void CancelledTokenThrows()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() =>
            DashQGpuSolver.Solve(_compute.GpuKernels!, new float[8], 2, 4, new float[] { 1, 1, 1, 1 }, new DashQOptions(new QuantizationScheme(2, 2)), cts.Token));
    }

    [Fact]
    public void TheQuantizerKeepsTheCpuSolverUnlessTheDeviceIsARealGpu()
    {
        Assert.False(_compute.RunsOnGpu);
        Assert.False(ComputeContext.Cpu.RunsOnGpu);
        var c = new DashQTestCase(3, 16, 3, 8, 1, 0.5, 1e-2);
        var quantizer = new DashQQuantizer(c.Options());
        var weights = new DenseMatrix(c.Weights(), c.Rows, c.Columns);
        var h = HessianEstimate.FromDiagonal(c.Diagonal(), 64);
        var simulated = quantizer.Quantize(weights, h, _compute);
        var cpu = quantizer.Quantize(weights, h, ComputeContext.Cpu);
        Assert.DoesNotContain(simulated.Diagnostics!.Notes, n => n.StartsWith("solved on", StringComparison.Ordinal));
        Assert.Equal(cpu.Diagnostics!.Notes, simulated.Diagnostics.Notes);
        Assert.Equal(cpu.Codes.ToArray(), simulated.Codes.ToArray());
    }

    /// <summary>On a machine with a CUDA or OpenCL GPU, the quantizer runs the kernel there and must still match the CPU bit for bit.</summary>
    [SkippableFact]
    public void OnARealGpuTheQuantizerIsBitIdenticalToTheCpu()
    {
        using var gpu = ComputeContext.Create(ComputeDevice.Auto);
        Skip.IfNot(gpu.RunsOnGpu, "no CUDA or OpenCL GPU on this machine");
        DashQTestCase.Gen.Sample(
            c =>
            {
                foreach (bool integerZero in new[] { false, true })
                {
                    var options = c.Seed % 2 == 0 ? new DashQOptions(c.Scheme) { RangeCandidates = 41, IntegerZeroPoint = integerZero } : c.Options(integerZero: integerZero, fp16: true);
                    var quantizer = new DashQQuantizer(options);
                    var weights = new DenseMatrix(c.Weights(), c.Rows, c.Columns);
                    var h = HessianEstimate.FromDiagonal(c.Diagonal(), 64);
                    var onGpu = quantizer.Quantize(weights, h, gpu);
                    var onCpu = quantizer.Quantize(weights, h, ComputeContext.Cpu);
                    Assert.Contains(onGpu.Diagnostics!.Notes, n => n.StartsWith("solved on", StringComparison.Ordinal));
                    Assert.Equal(onCpu.Codes.ToArray(), onGpu.Codes.ToArray());
                    Assert.Equal(Bits(onCpu.Scales.Span), Bits(onGpu.Scales.Span));
                    Assert.Equal(Bits(onCpu.Zeros.Span), Bits(onGpu.Zeros.Span));
                }
            },
            iter: 100,
            threads: 1);
    }

    private static int[] Bits(ReadOnlySpan<float> values)
    {
        var bits = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bits[i] = BitConverter.SingleToInt32Bits(values[i]);
        }

        return bits;
    }

    private (DashQSolver.Result Gpu, DashQSolver.Result Cpu) AssertSameAsCpu(float[] w, int rows, int columns, float[] h, DashQOptions options)
    {
        var cpu = DashQSolver.Solve(w, rows, columns, h, options, CancellationToken.None);
        var gpu = DashQGpuSolver.Solve(_compute.GpuKernels!, w, rows, columns, h, options, CancellationToken.None);
        Assert.Equal(cpu.Codes, gpu.Codes);
        Assert.Equal(Bits(cpu.Scales), Bits(gpu.Scales));
        Assert.Equal(Bits(cpu.Zeros), Bits(gpu.Zeros));
        Assert.Equal(cpu.IterationsRun, gpu.IterationsRun);
        Assert.Equal(cpu.UniformGroups, gpu.UniformGroups);
        Assert.Equal(cpu.DeadChannels, gpu.DeadChannels);
        Assert.Equal(cpu.ConstantGroups, gpu.ConstantGroups);
        Assert.Equal(cpu.UnroundedParameters, gpu.UnroundedParameters);
        return (gpu, cpu);
    }
}
