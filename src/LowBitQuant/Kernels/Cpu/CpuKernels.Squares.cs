using System.Numerics.Tensors;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>Per-column sums of squares (the Hessian diagonal).</summary>
internal static partial class CpuKernels
{
    /// <summary>Tokens whose squares are summed in a float32 block before being added to the float64 sums.</summary>
    internal const int SquaresBlockTokens = 128;

    /// <summary>Columns per parallel work item; below two of them a batch runs on the calling thread.</summary>
    private const int SquaresColumnsPerWorker = 1024;

    /// <summary>Minimum elements in a batch before columns are split across threads.</summary>
    private const int SquaresParallelThreshold = 1 << 20;

    /// <summary>sums[j] += Σ_t x[t, j]² for a row-major tokens × sums.Length batch (finite values).</summary>
    public static void AccumulateSquares(ReadOnlySpan<float> x, Span<double> sums)
    {
        int n = sums.Length;
        int tokens = x.Length / n;
        if (tokens == 0)
        {
            return;
        }

        if (x.Length < SquaresParallelThreshold || n < 2 * SquaresColumnsPerWorker || Environment.ProcessorCount == 1)
        {
            AccumulateSquaresRange(x, n, 0, n, sums);
            return;
        }

        unsafe
        {
            fixed (float* px = x)
            fixed (double* ps = sums)
            {
                float* xp = px;
                double* sp = ps;
                int xl = x.Length;
                int ranges = (n + SquaresColumnsPerWorker - 1) / SquaresColumnsPerWorker;
                Parallel.For(0, ranges, r =>
                {
                    int c0 = r * SquaresColumnsPerWorker;
                    int c1 = Math.Min(n, c0 + SquaresColumnsPerWorker);
                    AccumulateSquaresRange(new ReadOnlySpan<float>(xp, xl), n, c0, c1, new Span<double>(sp, n));
                });
            }
        }
    }

    private static void AccumulateSquaresRange(ReadOnlySpan<float> x, int n, int c0, int c1, Span<double> sums)
    {
        int width = c1 - c0;
        int tokens = x.Length / n;
        float[] block = new float[width];
        for (int t0 = 0; t0 < tokens; t0 += SquaresBlockTokens)
        {
            int count = Math.Min(SquaresBlockTokens, tokens - t0);
            Array.Clear(block);
            for (int t = t0; t < t0 + count; t++)
            {
                var row = x.Slice((t * n) + c0, width);
                TensorPrimitives.MultiplyAdd(row, row, block, block);
            }

            var dst = sums.Slice(c0, width);
            for (int j = 0; j < width; j++)
            {
                dst[j] += block[j];
            }
        }
    }
}
