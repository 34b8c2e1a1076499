using ILGPU;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>Tiled C += XᵀX over the upper triangle of tiles, one group per output tile, float32 accumulation.</summary>
internal static class GramKernel
{
    /// <summary>
    /// Output tile edge and token step. 16 × 16 = 256 threads per group (a multiple of the 32-thread warp on every
    /// CUDA device); two 16 × 16 float tiles are 2 KiB of shared memory, small enough for full occupancy.
    /// </summary>
    public const int TileSize = 16;

    /// <summary>
    /// Explicitly grouped kernel: grid (⌈n/T⌉, ⌈n/T⌉), group (T, T). Group (bx, by) computes the output tile with rows
    /// by·T.. and columns bx·T..; tiles below the diagonal exit at once (the whole group together, before any barrier).
    /// </summary>
    /// <param name="x">tokens × n activations, row-major.</param>
    /// <param name="c">n × n float32 accumulator, row-major; only tiles with column tile ≥ row tile are written.</param>
    /// <param name="tokens">Rows of <paramref name="x"/>.</param>
    /// <param name="n">Columns of <paramref name="x"/>.</param>
    public static void Run(ArrayView<float> x, ArrayView<float> c, int tokens, int n)
    {
        int rowTile = Grid.IdxY;
        int colTile = Grid.IdxX;
        if (colTile < rowTile)
        {
            return;
        }

        int ty = Group.IdxY;
        int tx = Group.IdxX;
        var a = SharedMemory.Allocate<float>(TileSize * TileSize);
        var b = SharedMemory.Allocate<float>(TileSize * TileSize);
        int aColumn = (rowTile * TileSize) + tx;
        int bColumn = (colTile * TileSize) + tx;
        float sum = 0f;
        for (int t0 = 0; t0 < tokens; t0 += TileSize)
        {
            // Thread (ty, tx) stages token t0 + ty of column tx of both tiles (coalesced along tx).
            int t = t0 + ty;
            a[(ty * TileSize) + tx] = t < tokens && aColumn < n ? x[(t * n) + aColumn] : 0f;
            b[(ty * TileSize) + tx] = t < tokens && bColumn < n ? x[(t * n) + bColumn] : 0f;
            Group.Barrier();
            for (int k = 0; k < TileSize; k++)
            {
                sum += a[(k * TileSize) + ty] * b[(k * TileSize) + tx];
            }

            Group.Barrier();
        }

        int row = (rowTile * TileSize) + ty;
        int column = (colTile * TileSize) + tx;
        if (row < n && column < n)
        {
            c[(row * n) + column] += sum;
        }
    }
}
