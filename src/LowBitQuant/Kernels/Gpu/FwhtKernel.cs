using ILGPU;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>
/// Unnormalised fast Walsh–Hadamard transform of every n-long row (n a power of two), in place, with the same butterflies in
/// the same stage order (h = 1, 2, 4, …, n/2; x_i, x_{i+h} ← x_i + x_{i+h}, x_i − x_{i+h}) as the CPU <c>CpuKernels.Fwht</c>,
/// so both give bit-identical float results.
/// </summary>
internal static class FwhtKernel
{
    /// <summary>
    /// Longest row done by <see cref="SharedRow"/>: one group of n/2 ≤ 512 threads per row (within CUDA's 1024-thread group
    /// limit and a multiple of the 32-thread warp from n = 64 up) holds the row in 1024 floats = 4 KiB of shared memory,
    /// small enough for several resident groups per multiprocessor. Longer rows run <see cref="Stage"/> once per stage.
    /// </summary>
    public const int SharedMaxLength = 1024;

    /// <summary>
    /// One butterfly stage of stride <paramref name="h"/> over all rows: implicitly grouped, one thread per butterfly pair,
    /// rows.Length / 2 threads. Pair p of row r = p / (n/2) is pair q = p mod (n/2) of that row, at i = r·n + (q / h)·2h + q mod h;
    /// because 2h divides n this is the same as i = (p / h)·2h + p mod h over the whole buffer, so n need not be passed.
    /// </summary>
    public static void Stage(Index1D index, ArrayView<float> rows, int h)
    {
        int p = index;
        int i = ((p / h) * 2 * h) + (p % h);
        float a = rows[i];
        float b = rows[i + h];
        rows[i] = a + b;
        rows[i + h] = a - b;
    }

    /// <summary>
    /// Explicitly grouped: grid = number of rows, group = n/2 threads (n ≤ <see cref="SharedMaxLength"/>, n ≥ 2). The group
    /// stages its row in shared memory, runs every stage with a barrier between stages, and writes the row back.
    /// </summary>
    public static void SharedRow(ArrayView<float> rows, int n)
    {
        var row = SharedMemory.Allocate<float>(SharedMaxLength);
        int t = Group.IdxX;
        int offset = Grid.IdxX * n;
        int half = n / 2;
        row[t] = rows[offset + t];
        row[t + half] = rows[offset + t + half];
        Group.Barrier();
        for (int h = 1; h < n; h *= 2)
        {
            int i = ((t / h) * 2 * h) + (t % h);
            float a = row[i];
            float b = row[i + h];
            row[i] = a + b;
            row[i + h] = a - b;
            Group.Barrier();
        }

        rows[offset + t] = row[t];
        rows[offset + t + half] = row[t + half];
    }
}
