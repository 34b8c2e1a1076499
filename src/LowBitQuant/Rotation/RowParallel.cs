using LowBitQuant.Internal;

namespace LowBitQuant.Rotation;

/// <summary>Runs a per-row operation over a span of rows, on the calling thread for small inputs and in parallel otherwise.</summary>
internal static class RowParallel
{
    /// <summary>Work (elements × per-element cost) below which rows are processed on the calling thread.</summary>
    private const long SerialThreshold = 1 << 16;

    public delegate void RowAction(Span<float> row, float[] scratch);

    /// <summary>Validates that <paramref name="rows"/> is a whole number of <paramref name="size"/>-long rows, then runs <paramref name="action"/> on each.</summary>
    public static unsafe void For(Span<float> rows, int size, int scratchLength, long costPerElement, RowAction action, string paramName = "rows")
    {
        if (rows.Length % size != 0)
        {
            ThrowHelper.ThrowArgument(paramName, $"Length {rows.Length} is not a multiple of the rotation size {size}.");
        }

        int count = rows.Length / size;
        if (count == 0)
        {
            return;
        }

        if (count == 1 || (long)rows.Length * costPerElement < SerialThreshold)
        {
            var scratch = new float[scratchLength];
            for (int r = 0; r < count; r++)
            {
                action(rows.Slice(r * size, size), scratch);
            }

            return;
        }

        fixed (float* p = rows)
        {
            nint address = (nint)p;
            int chunk = (int)Math.Clamp(SerialThreshold / Math.Max(1, (long)size * costPerElement), 1, Math.Max(1, count / (2 * Environment.ProcessorCount)));
            Parallel.For(0, (count + chunk - 1) / chunk, () => new float[scratchLength], (c, _, scratch) =>
            {
                int end = Math.Min(count, (c + 1) * chunk);
                for (int r = c * chunk; r < end; r++)
                {
                    action(new Span<float>((float*)address + ((long)r * size), size), scratch);
                }

                return scratch;
            }, _ => { });
        }
    }
}
