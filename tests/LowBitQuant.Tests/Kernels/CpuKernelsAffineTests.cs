using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Kernels;

public class CpuKernelsAffineTests
{
    /// <summary>Every driver width, as ints (the enum is internal): scalar, 128, 256, 512. Vector512 runs in software where not accelerated.</summary>
    public static TheoryData<int> Widths => new() { 0, 1, 2, 3 };

    [Theory]
    [MemberData(nameof(Widths))]
    public void QuantizeMatchesReferenceForEveryLengthUpTo257(int widthIndex)
    {
        var width = (VectorWidth)widthIndex;
        for (int bits = 2; bits <= 8; bits += 2)
        {
            int maxq = (1 << bits) - 1;
            for (int n = 0; n <= 257; n++)
            {
                var x = TestData.Uniform(n, seed: n + (1000 * bits), scale: 3f);
                float scale = 6f / maxq, zero = maxq / 2;
                var codes = new byte[n];
                CpuKernels.QuantizeAffine(x, scale, zero, maxq, codes, width);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(Reference.Quantize(x[i], scale, zero, maxq), codes[i]);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void DequantizeMatchesReferenceForEveryLengthUpTo257(int widthIndex)
    {
        var width = (VectorWidth)widthIndex;
        var rng = new Random(7);
        for (int n = 0; n <= 257; n++)
        {
            var codes = new byte[n];
            rng.NextBytes(codes);
            var dst = new float[n];
            CpuKernels.DequantizeAffine(codes, 0.0123f, 131f, dst, width);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(Reference.Dequantize(codes[i], 0.0123f, 131f), dst[i]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void MisalignedSlicesGiveTheSameCodesAndLeaveNeighboursUntouched(int widthIndex)
    {
        var width = (VectorWidth)widthIndex;
        var x = TestData.Normal(300, seed: 3);
        for (int offset = 1; offset < 9; offset++)
        {
            foreach (int n in new[] { 15, 16, 17, 31, 33, 63, 64, 65, 129, 200 })
            {
                var buffer = new byte[n + offset + 8];
                Array.Fill(buffer, (byte)0xEE);
                var slice = buffer.AsSpan(offset, n);
                CpuKernels.QuantizeAffine(x.AsSpan(offset, n), 0.3f, 8f, 15, slice, width);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(Reference.Quantize(x[offset + i], 0.3f, 8f, 15), slice[i]);
                }

                Assert.All(buffer[..offset], b => Assert.Equal(0xEE, b));
                Assert.All(buffer[(offset + n)..], b => Assert.Equal(0xEE, b));

                var floats = new float[n + offset + 8];
                CpuKernels.DequantizeAffine(slice, 0.3f, 8f, floats.AsSpan(offset, n), width);
                Assert.All(floats[..offset], f => Assert.Equal(0f, f));
                Assert.All(floats[(offset + n)..], f => Assert.Equal(0f, f));
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(Reference.Dequantize(slice[i], 0.3f, 8f), floats[offset + i]);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void TiesRoundHalfToEvenAndCodesClampToTheGrid(int widthIndex)
    {
        var width = (VectorWidth)widthIndex;
        // x / s = k + 0.5 exactly for s = 0.5: 0.25 → 0.5 → 0, 0.75 → 1.5 → 2, 1.25 → 2.5 → 2; far values clamp.
        var x = new float[64];
        float[] pattern = [0.25f, 0.75f, 1.25f, -0.25f, -0.75f, 100f, -100f, 0f];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = pattern[i % pattern.Length];
        }

        var codes = new byte[x.Length];
        CpuKernels.QuantizeAffine(x, 0.5f, 4f, 7, codes, width);
        byte[] expected = [4, 6, 6, 4, 2, 7, 0, 4];
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(expected[i % expected.Length], codes[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void RealValuedZeroMatchesRoundOfShiftedValueAwayFromTies(int widthIndex)
    {
        var width = (VectorWidth)widthIndex;
        var x = TestData.Uniform(257, seed: 11, scale: 2f);
        const float scale = 0.3f, zero = 6.37f;
        var codes = new byte[x.Length];
        CpuKernels.QuantizeAffine(x, scale, zero, 15, codes, width);
        for (int i = 0; i < x.Length; i++)
        {
            double v = (x[i] / (double)scale) + zero;
            if (Math.Abs(v - Math.Floor(v) - 0.5) < 1e-4)
            {
                continue;
            }

            Assert.Equal(Math.Clamp(Math.Round(v), 0, 15), codes[i]);
        }
    }

    [Fact]
    public void ShortDestinationsThrowNamingTheParameter()
    {
        var ex = Assert.Throws<ArgumentException>(() => CpuKernels.QuantizeAffine(new float[5], 1f, 0f, 15, new byte[4]));
        Assert.Equal("codes", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuKernels.DequantizeAffine(new byte[5], 1f, 0f, new float[4]));
        Assert.Equal("destination", ex.ParamName);
    }
}
