using System.Runtime.Intrinsics;

namespace LowBitQuant.Quantizers;

/// <summary>
/// The layer driver over 16-row AVX-512 tiles: the same per-tile steps as the <see cref="System.Numerics.Vector{T}"/> driver, with the
/// column groups of a row block taken two at a time and their iterations run in turn (<see cref="DashQGroupSolve16.Iterate"/>), so the
/// two tiles' dependency chains overlap. Each tile still runs its own iterations only, so results are those of one tile at a time.
/// </summary>
internal static partial class DashQSolver
{
    private const int Lanes16 = DashQGroupSolve16.Lanes;

    private static Result Solve16(ReadOnlyMemory<float> weights, int rows, int columns, float[] p, int uniformGroups, int deadChannels, DashQOptions options, CancellationToken cancellationToken)
    {
        var scheme = options.Scheme;
        int width = scheme.GroupWidth(columns), groups = scheme.GroupCount(columns);
        var output = new Output16(
            GC.AllocateUninitializedArray<byte>(checked(rows * columns)), // every code is written below
            new float[rows * groups],
            new float[rows * groups],
            columns,
            groups);
        int blocks = (rows + Lanes16 - 1) / Lanes16;
        var solve = new DashQGroupSolve16(options);
        long iterations = 0;
        int constantGroups = 0, unrounded = 0;
        object gate = new();

        Parallel.For(
            0,
            blocks,
            new ParallelOptions { CancellationToken = cancellationToken },
            () => new Scratch16(width * Lanes16),
            (block, _, scratch) =>
            {
                var w = weights.Span;
                int r0 = block * Lanes16, valid = Math.Min(Lanes16, rows - r0);
                for (int g = 0; g < groups; g += 2)
                {
                    bool pair = g + 1 < groups;
                    int startA = g * width, lenA = Math.Min(width, columns - startA);
                    int startB = startA + width, lenB = pair ? Math.Min(width, columns - startB) : 0;
                    var tileA = scratch.Tile.AsSpan(0, lenA * Lanes16);
                    var codesA = scratch.Codes.AsSpan(0, lenA * Lanes16);
                    var centeredA = scratch.Centered.AsSpan(0, lenA * Lanes16);
                    var tileB = scratch.Tile2.AsSpan(0, lenB * Lanes16);
                    var codesB = scratch.Codes2.AsSpan(0, lenB * Lanes16);
                    var centeredB = scratch.Centered2.AsSpan(0, lenB * Lanes16);
                    var pA = p.AsSpan(startA, lenA);
                    var pB = p.AsSpan(pair ? startB : 0, lenB);

                    LoadTile(w, columns, r0, valid, startA, lenA, tileA);
                    var a = solve.Begin(tileA, pA, codesA, centeredA);
                    var b = default(DashQGroupSolve16.TileState);
                    if (pair)
                    {
                        LoadTile(w, columns, r0, valid, startB, lenB, tileB);
                        b = solve.Begin(tileB, pB, codesB, centeredB);
                    }

                    bool doneA = false, doneB = !pair;
                    for (int t = 0; t < options.Iterations && !(doneA && doneB); t++)
                    {
                        doneA = doneA || solve.Iterate(ref a, t, tileA, pA, codesA, centeredA);
                        doneB = doneB || solve.Iterate(ref b, t, tileB, pB, codesB, centeredB);
                    }

                    Complete(solve, options, ref a, tileA, pA, codesA, r0, valid, g, startA, output, scratch);
                    if (pair)
                    {
                        Complete(solve, options, ref b, tileB, pB, codesB, r0, valid, g + 1, startB, output, scratch);
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

        return new Result(output.Codes, output.Scales, output.Zeros, iterations, uniformGroups, deadChannels, constantGroups, unrounded);
    }

    /// <summary>Rows r0.. of one column group into the column-major tile; padding lanes repeat the last row (results discarded).</summary>
    private static void LoadTile(ReadOnlySpan<float> w, int columns, int r0, int valid, int start, int len, Span<float> tile)
    {
        if (valid == Lanes16 && len % 8 == 0)
        {
            DashQGroupSolve16.LoadRows(w[((r0 * columns) + start)..], columns, len, tile);
            return;
        }

        for (int lane = 0; lane < Lanes16; lane++)
        {
            var row = w.Slice(((r0 + Math.Min(lane, valid - 1)) * columns) + start, len);
            for (int j = 0; j < len; j++)
            {
                tile[(j * Lanes16) + lane] = row[j];
            }
        }
    }

    /// <summary>After the iterations: scale and zero (storage rounding, constant groups), the final codes into the layer, the counts.</summary>
    private static void Complete(DashQGroupSolve16 solve, DashQOptions options, ref DashQGroupSolve16.TileState state, ReadOnlySpan<float> tile, ReadOnlySpan<float> p, Span<float> tileCodes, int r0, int valid, int g, int start, Output16 output, Scratch16 scratch)
    {
        int len = p.Length, columns = output.Columns, groups = output.Groups;
        solve.End(ref state, tile, p, out var s, out var z);
        var constant = state.Constant;
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

        Span<float> sArr = stackalloc float[Lanes16], zArr = stackalloc float[Lanes16], cArr = stackalloc float[Lanes16];
        s.CopyTo(sArr);
        z.CopyTo(zArr);
        cArr.Clear();
        if (constant != Vector512<int>.Zero)
        {
            for (int lane = 0; lane < Lanes16; lane++)
            {
                if (constant[lane] != 0)
                {
                    (sArr[lane], zArr[lane], cArr[lane]) = ConstantGroup(tile[lane], options.RoundToFloat16);
                    scratch.ConstantGroups += lane < valid ? 1 : 0;
                }
            }
        }

        // Valid lanes only: groups that kept a float32 scale or zero (constant groups excepted), and iterations run.
        var validMask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(valid));
        scratch.Unrounded += Vector512.Sum(Vector512.AndNot(kept, constant) & validMask & Vector512<int>.One);
        for (int lane = 0; lane < valid; lane++)
        {
            scratch.Iterations += (long)state.Used[lane];
        }

        var sv = Vector512.Create<float>(sArr);
        var zv = Vector512.Create<float>(zArr);
        var cv = Vector512.Create<float>(cArr);
        var codes = output.Codes;
        if (valid == Lanes16 && len % 32 == 0)
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
                    dst[j] = (byte)tileCodes[(j * Lanes16) + lane];
                }
            }
        }

        for (int lane = 0; lane < valid; lane++)
        {
            int r = r0 + lane;
            output.Scales[(r * groups) + g] = sArr[lane];
            output.Zeros[(r * groups) + g] = zArr[lane];
        }
    }

    private sealed record Output16(byte[] Codes, float[] Scales, float[] Zeros, int Columns, int Groups);

    private sealed class Scratch16(int size)
    {
        public float[] Tile { get; } = new float[size];

        public float[] Codes { get; } = new float[size];

        public float[] Centered { get; } = new float[size];

        public float[] Tile2 { get; } = new float[size];

        public float[] Codes2 { get; } = new float[size];

        public float[] Centered2 { get; } = new float[size];

        public long Iterations { get; set; }

        public int ConstantGroups { get; set; }

        public int Unrounded { get; set; }
    }
}
