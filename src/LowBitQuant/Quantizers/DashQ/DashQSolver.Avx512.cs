using System.Runtime.Intrinsics;

namespace LowBitQuant.Quantizers;

/// <summary>The layer driver over 16-row AVX-512 tiles: the same per-tile steps as the <see cref="System.Numerics.Vector{T}"/> driver.</summary>
internal static partial class DashQSolver
{
    private static Result Solve16(ReadOnlyMemory<float> weights, int rows, int columns, float[] p, int uniformGroups, int deadChannels, DashQOptions options, CancellationToken cancellationToken)
    {
        const int Lanes = DashQGroupSolve16.Lanes;
        var scheme = options.Scheme;
        int width = scheme.GroupWidth(columns), groups = scheme.GroupCount(columns);
        var codes = GC.AllocateUninitializedArray<byte>(checked(rows * columns)); // every code is written below
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        int blocks = (rows + Lanes - 1) / Lanes;
        var solve = new DashQGroupSolve16(options);
        long iterations = 0;
        int constantGroups = 0, unrounded = 0;
        object gate = new();

        Parallel.For(
            0,
            blocks,
            new ParallelOptions { CancellationToken = cancellationToken },
            () => new Scratch16(width * Lanes),
            (block, _, scratch) =>
            {
                var w = weights.Span;
                int r0 = block * Lanes, valid = Math.Min(Lanes, rows - r0);
                Span<float> sArr = stackalloc float[Lanes], zArr = stackalloc float[Lanes], cArr = stackalloc float[Lanes];
                for (int g = 0; g < groups; g++)
                {
                    int start = g * width, len = Math.Min(width, columns - start);
                    var tile = scratch.Tile.AsSpan(0, len * Lanes);
                    var tileCodes = scratch.Codes.AsSpan(0, len * Lanes);
                    bool full = valid == Lanes;

                    // Rows r0.. into the column-major tile; padding lanes repeat the last row (results discarded).
                    if (full && len % 8 == 0)
                    {
                        DashQGroupSolve16.LoadRows(w[((r0 * columns) + start)..], columns, len, tile);
                    }
                    else
                    {
                        for (int lane = 0; lane < Lanes; lane++)
                        {
                            var row = w.Slice(((r0 + Math.Min(lane, valid - 1)) * columns) + start, len);
                            for (int j = 0; j < len; j++)
                            {
                                tile[(j * Lanes) + lane] = row[j];
                            }
                        }
                    }

                    solve.Solve(tile, p.AsSpan(start, len), tileCodes, scratch.Centered, out var s, out var z, out var used, out var constant);
                    var kept = Vector512<int>.Zero;
                    if (options.RoundToFloat16)
                    {
                        // Storage rounding of (s, z) to float16; a value float16 cannot hold (0 or ±Inf) stays float32 and is counted.
                        var rs = HalfRounding.Round(s);
                        var rz = HalfRounding.Round(z);
                        var okS = Vector512.GreaterThan(rs, Vector512<float>.Zero).AsInt32() & HalfRounding.IsFinite(rs);
                        var okZ = HalfRounding.IsFinite(rz);
                        s = Vector512.ConditionalSelect(okS.AsSingle(), rs, s);
                        z = Vector512.ConditionalSelect(okZ.AsSingle(), rz, z);
                        kept = ~(okS & okZ);
                    }

                    s.CopyTo(sArr);
                    z.CopyTo(zArr);
                    cArr.Clear();
                    if (constant != Vector512<int>.Zero)
                    {
                        for (int lane = 0; lane < Lanes; lane++)
                        {
                            if (constant[lane] != 0)
                            {
                                (sArr[lane], zArr[lane], cArr[lane]) = ConstantGroup(tile[lane], options.RoundToFloat16);
                                scratch.ConstantGroups += lane < valid ? 1 : 0;
                            }
                        }
                    }

                    // Valid lanes only: iterations run, and groups that kept a float32 scale or zero (constant groups excepted).
                    var validMask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(valid));
                    scratch.Unrounded += Vector512.Sum(Vector512.AndNot(kept, constant) & validMask & Vector512<int>.One);
                    for (int lane = 0; lane < valid; lane++)
                    {
                        scratch.Iterations += (long)used[lane];
                    }

                    var sv = Vector512.Create<float>(sArr);
                    var zv = Vector512.Create<float>(zArr);
                    var cv = Vector512.Create<float>(cArr);
                    if (full && len % 32 == 0)
                    {
                        solve.FinishPacked(tile, len, sv, zv, constant, cv, codes.AsSpan((r0 * columns) + start), columns);
                    }
                    else
                    {
                        solve.Finish(tile, tileCodes, len, sv, zv, constant, cv);
                        for (int lane = 0; lane < valid; lane++)
                        {
                            var dst = codes.AsSpan(((r0 + lane) * columns) + start, len);
                            for (int j = 0; j < len; j++)
                            {
                                dst[j] = (byte)tileCodes[(j * Lanes) + lane];
                            }
                        }
                    }

                    for (int lane = 0; lane < valid; lane++)
                    {
                        int r = r0 + lane;
                        scales[(r * groups) + g] = sArr[lane];
                        zeros[(r * groups) + g] = zArr[lane];
                    }
                }

                return scratch;
            },
            scratch =>
            {
                lock (gate)
                {
                    iterations += scratch.Iterations;
                    constantGroups += scratch.ConstantGroups;
                    unrounded += scratch.Unrounded;
                }
            });

        return new Result(codes, scales, zeros, iterations, uniformGroups, deadChannels, constantGroups, unrounded);
    }

    private sealed class Scratch16(int size)
    {
        public float[] Tile { get; } = new float[size];

        public float[] Codes { get; } = new float[size];

        public float[] Centered { get; } = new float[size];

        public long Iterations { get; set; }

        public int ConstantGroups { get; set; }

        public int Unrounded { get; set; }
    }
}
