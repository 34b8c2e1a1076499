using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Tests.Kernels;

/// <summary>
/// The GPU FWHT on ILGPU's CPU accelerator against the CPU FWHT and against the Hadamard definition.
/// GPU and CPU must agree exactly: both run the same butterflies (a + b, a − b, each one float add) in the same stage order
/// h = 1, 2, …, n/2, so every element sees the same sequence of correctly rounded float operations on the same operands.
/// </summary>
public sealed class IlgpuCpuFwhtKernelTests : IDisposable
{
    // One context per test class: a failed kernel compile poisons every later compile in the same ILGPU context.
    private readonly ComputeContext _compute = ComputeContext.CreateIlgpuCpuForTesting();

    public void Dispose() => _compute.Dispose();

    public static TheoryData<int, int, bool> Shapes()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (int n in new[] { 1, 2, 4, 8, 64, 256 })
        {
            foreach (int rows in new[] { 1, 3, 5 })
            {
                data.Add(n, rows, false);
                data.Add(n, rows, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GpuFwhtEqualsCpuFwhtExactly(int n, int rows, bool forceStaged)
    {
        var x = RandomRows(n, rows, seed: (n * 31) + rows);
        var expected = (float[])x.Clone();
        CpuKernels.FwhtRows(expected, n);
        var actual = (float[])x.Clone();
        _compute.GpuKernels!.Fwht(actual, n, forceStaged);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(8, 2, false)]
    [InlineData(8, 2, true)]
    [InlineData(64, 3, false)]
    [InlineData(64, 3, true)]
    public void GpuFwhtMatchesHadamardDefinition(int n, int rows, bool forceStaged)
    {
        // y_k = Σ_j (−1)^popcount(j & k) x_j (Sylvester order), in double, independent of the butterfly code.
        var x = RandomRows(n, rows, seed: n + rows);
        var actual = (float[])x.Clone();
        _compute.GpuKernels!.Fwht(actual, n, forceStaged);
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < n; k++)
            {
                double y = 0;
                for (int j = 0; j < n; j++)
                {
                    y += (System.Numerics.BitOperations.PopCount((uint)(j & k)) % 2 == 0 ? 1 : -1) * (double)x[(r * n) + j];
                }

                Assert.True(Math.Abs(actual[(r * n) + k] - y) <= 1e-5 * n, $"row {r}, k {k}: {actual[(r * n) + k]} vs {y}");
            }
        }
    }

    [Fact]
    public void RowsLongerThanTheSharedKernelRunStaged()
    {
        // n = 2048 > SharedMaxLength: the public entry point takes the per-stage path.
        const int n = 2048;
        var x = RandomRows(n, 1, seed: 5);
        var expected = (float[])x.Clone();
        CpuKernels.FwhtRows(expected, n);
        _compute.GpuKernels!.Fwht(x, n);
        Assert.Equal(expected, x);
    }

    [Fact]
    public void PublicEntryPointEqualsCpu()
    {
        var x = RandomRows(32, 4, seed: 9);
        var expected = (float[])x.Clone();
        CpuKernels.FwhtRows(expected, 32);
        _compute.GpuKernels!.Fwht(x, 32);
        Assert.Equal(expected, x);
    }

    [Fact]
    public void ApplyingTwiceScalesByN()
    {
        // H·H = n·I; with integer inputs and n = 16 every value stays exact in float.
        var x = Enumerable.Range(0, 32).Select(i => (float)((i * 7 % 11) - 5)).ToArray();
        var y = (float[])x.Clone();
        _compute.GpuKernels!.Fwht(y, 16);
        _compute.GpuKernels!.Fwht(y, 16);
        Assert.Equal(x.Select(v => v * 16).ToArray(), y);
    }

    [Fact]
    public void EmptyInputIsANoOp()
    {
        _compute.GpuKernels!.Fwht(Span<float>.Empty, 8);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    [InlineData(3)]
    [InlineData(12)]
    public void NonPowerOfTwoLengthIsRejected(int n)
    {
        var ex = Assert.Throws<ArgumentException>(() => _compute.GpuKernels!.Fwht(new float[24], n));
        Assert.Equal("n", ex.ParamName);
        Assert.Contains("power of two", ex.Message);
    }

    [Fact]
    public void LengthNotAMultipleOfNIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => _compute.GpuKernels!.Fwht(new float[12], 8));
        Assert.Equal("rows", ex.ParamName);
        Assert.Contains("multiple", ex.Message);
    }

    private static float[] RandomRows(int n, int rows, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n * rows).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
    }
}
