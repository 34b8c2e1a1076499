namespace LowBitQuant.Tests.Models;

/// <summary>
/// The runtime's x·Wᵀ kernels (packed AVX-512, dot-product, and the dispatcher) against the float64 definition
/// <c>y[t, o] = Σᵢ x[t, i] · w[o, i]</c> over aligned, odd and tiny shapes: token counts around the 6-row tile, input widths around
/// the 8-wide transpose and the 256-deep panel, output widths around the 64-wide panel and the 128-row work item.
/// </summary>
public class LlamaMatMulTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 1, 9, 3 }, { 2, 3, 70 }, { 5, 1, 64 }, { 6, 8, 64 }, { 7, 15, 65 }, { 8, 16, 1 }, { 11, 255, 63 },
        { 12, 256, 128 }, { 13, 257, 129 }, { 17, 300, 200 }, { 35, 513, 127 }, { 64, 64, 172 }, { 97, 64, 512 },
        { 191, 520, 256 }, { 203, 33, 1000 }, { 385, 129, 300 },
    };

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void PackedMatchesDefinition(int tokens, int inDim, int outDim)
    {
        Skip.IfNot(LlamaKernels.PackedSupported, "The packed kernel needs AVX-512F.");
        Check(LlamaKernels.MatMulTransposedPacked, tokens, inDim, outDim);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DotKernelMatchesDefinition(int tokens, int inDim, int outDim) =>
        Check(LlamaKernels.MatMulTransposedDot, tokens, inDim, outDim);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DispatcherMatchesDefinition(int tokens, int inDim, int outDim) =>
        Check(LlamaKernels.MatMulTransposed, tokens, inDim, outDim);

    [SkippableFact]
    public void PackedWritesOnlyTheProductRegion()
    {
        Skip.IfNot(LlamaKernels.PackedSupported, "The packed kernel needs AVX-512F.");
        const int Tokens = 13, In = 70, Out = 67;
        var rng = new Random(5);
        float[] x = Random(rng, Tokens * In), w = Random(rng, Out * In);
        var y = new float[(Tokens * Out) + 9];
        y.AsSpan().Fill(float.NaN);
        LlamaKernels.MatMulTransposedPacked(x, Tokens, In, w, Out, y);
        Assert.All(y.Take(Tokens * Out), v => Assert.False(float.IsNaN(v)));
        Assert.All(y.Skip(Tokens * Out), v => Assert.True(float.IsNaN(v)));
    }

    [SkippableFact]
    public void PackedWithNoInputChannelsGivesZeros()
    {
        Skip.IfNot(LlamaKernels.PackedSupported, "The packed kernel needs AVX-512F.");
        var y = Enumerable.Repeat(7f, 12).ToArray();
        LlamaKernels.MatMulTransposedPacked(Array.Empty<float>(), 3, 0, Array.Empty<float>(), 4, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [SkippableFact]
    public void PackedRejectsShortBuffers()
    {
        Skip.IfNot(LlamaKernels.PackedSupported, "The packed kernel needs AVX-512F.");
        Assert.Throws<ArgumentException>(() => LlamaKernels.MatMulTransposedPacked(new float[11], 3, 4, new float[8], 2, new float[6]));
        Assert.Throws<ArgumentException>(() => LlamaKernels.MatMulTransposedPacked(new float[12], 3, 4, new float[7], 2, new float[6]));
        Assert.Throws<ArgumentException>(() => LlamaKernels.MatMulTransposedPacked(new float[12], 3, 4, new float[8], 2, new float[5]));
    }

    private static void Check(Action<float[], int, int, float[], int, float[]> kernel, int tokens, int inDim, int outDim)
    {
        var rng = new Random((tokens * 7919) + (inDim * 31) + outDim);
        float[] x = Random(rng, tokens * inDim), w = Random(rng, outDim * inDim);
        var y = new float[tokens * outDim];
        y.AsSpan().Fill(float.NaN); // the kernel must overwrite, not accumulate
        kernel(x, tokens, inDim, w, outDim, y);
        for (int t = 0; t < tokens; t++)
        {
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0, magnitude = 0;
                for (int i = 0; i < inDim; i++)
                {
                    double p = (double)x[(t * inDim) + i] * w[(o * inDim) + i];
                    sum += p;
                    magnitude += Math.Abs(p);
                }

                // float32 summation of inDim products: |error| ≤ inDim · 2⁻²⁴ · Σ|products| (a wrong index is off by O(magnitude)).
                double tolerance = (inDim * Math.Pow(2, -24) * magnitude) + 1e-30;
                float actual = y[(t * outDim) + o];
                Assert.True(Math.Abs(actual - sum) <= tolerance, $"y[{t}, {o}] = {actual}, expected {sum} ± {tolerance} ({tokens} × {inDim} → {outDim})");
            }
        }
    }

    private static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return a;
    }
}
