using System.Numerics;

namespace LowBitQuant.Quantizers;

/// <summary>
/// Layer driver of DASH-Q: normalised per-group weights from the Hessian diagonal, then every (row block, column group) tile
/// solved by <see cref="DashQGroupSolve16"/> (16 rows, AVX-512) or <see cref="DashQGroupSolve"/> (<see cref="Vector{T}"/> rows), row
/// blocks in parallel.
/// </summary>
internal static partial class DashQSolver
{
    /// <summary>Floor added to every diagonal entry, relative to mean(h): dead channels keep a small weight (algorithms/dashq.md §6).</summary>
    public const double DeadChannelFloor = 1e-4;

    /// <summary>Diagonal entries below −this · max(h) are an error; smaller negative noise (from a full H) counts as 0.</summary>
    public const double NegativeNoiseTolerance = 1e-6;

    /// <summary>The outcome of one layer.</summary>
    public sealed record Result(byte[] Codes, float[] Scales, float[] Zeros, long IterationsRun, int UniformGroups, int DeadChannels, int ConstantGroups, int UnroundedParameters);

    /// <summary>
    /// p_j = h'_j / Σ_{k∈group} h'_k with h'_j = max(h_j, 0) + 1e-4·mean(h); a group whose Σ h' is 0 (or not finite) gets uniform p = 1/len.
    /// Computed in float64, stored as float32.
    /// </summary>
    public static float[] NormalizedWeights(ReadOnlySpan<float> diagonal, int groupWidth, out int uniformGroups, out int deadChannels)
    {
        int n = diagonal.Length;
        double mean = 0;
        deadChannels = 0;
        for (int j = 0; j < n; j++)
        {
            mean += Math.Max(diagonal[j], 0f);
            if (!(diagonal[j] > 0))
            {
                deadChannels++;
            }
        }

        mean /= n;
        double floor = DeadChannelFloor * mean;
        var p = new float[n];
        uniformGroups = 0;
        for (int start = 0; start < n; start += groupWidth)
        {
            int len = Math.Min(groupWidth, n - start);
            double sum = 0;
            for (int j = start; j < start + len; j++)
            {
                sum += Math.Max(diagonal[j], 0f) + floor;
            }

            if (sum > 0 && double.IsFinite(sum))
            {
                for (int j = start; j < start + len; j++)
                {
                    p[j] = (float)((Math.Max(diagonal[j], 0f) + floor) / sum);
                }
            }
            else
            {
                uniformGroups++;
                p.AsSpan(start, len).Fill((float)(1.0 / len));
            }
        }

        return p;
    }

    /// <summary>
    /// Quantizes a whole layer. Inputs are already validated. Runs 16-row AVX-512 tiles (<see cref="DashQGroupSolve16"/>) where the CPU has
    /// them and <paramref name="allowAvx512"/> is set, else <see cref="Vector{T}"/>-row tiles; both give the same bits.
    /// </summary>
    public static Result Solve(ReadOnlyMemory<float> weights, int rows, int columns, ReadOnlySpan<float> diagonal, DashQOptions options, CancellationToken cancellationToken, bool allowAvx512 = true)
    {
        var scheme = options.Scheme;
        int width = scheme.GroupWidth(columns), groups = scheme.GroupCount(columns);
        var p = NormalizedWeights(diagonal, width, out int uniformGroups, out int deadChannels);
        if (allowAvx512 && DashQGroupSolve16.IsSupported)
        {
            return Solve16(weights, rows, columns, p, uniformGroups, deadChannels, options, cancellationToken);
        }

        var codes = GC.AllocateUninitializedArray<byte>(checked(rows * columns)); // every code is written below
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        int lanes = Vector<float>.Count;
        int blocks = (rows + lanes - 1) / lanes;
        var solve = new DashQGroupSolve(options);
        long iterations = 0;
        int constantGroups = 0, unrounded = 0;
        object gate = new();

        Parallel.For(
            0,
            blocks,
            new ParallelOptions { CancellationToken = cancellationToken },
            () => new Scratch(width * lanes),
            (block, _, scratch) =>
            {
                var w = weights.Span;
                int r0 = block * lanes, valid = Math.Min(lanes, rows - r0);
                for (int g = 0; g < groups; g++)
                {
                    int start = g * width, len = Math.Min(width, columns - start);
                    var tile = scratch.Tile.AsSpan(0, len * lanes);
                    var tileCodes = scratch.Codes.AsSpan(0, len * lanes);
                    bool full = valid == lanes && DashQTileTranspose.IsSupported;

                    // Transpose rows r0.. into the column-major tile; padding lanes repeat the last row (results discarded).
                    if (full && len % 8 == 0)
                    {
                        DashQTileTranspose.LoadRows(w[((r0 * columns) + start)..], columns, len, tile);
                    }
                    else
                    {
                        for (int lane = 0; lane < lanes; lane++)
                        {
                            var row = w.Slice(((r0 + Math.Min(lane, valid - 1)) * columns) + start, len);
                            for (int j = 0; j < len; j++)
                            {
                                tile[(j * lanes) + lane] = row[j];
                            }
                        }
                    }

                    var pg = p.AsSpan(start, len);
                    solve.Solve(tile, pg, tileCodes, scratch.Centered, out var s, out var z, out var used, out var constant);
                    var sArr = scratch.Scale;
                    var zArr = scratch.Zero;
                    var cArr = scratch.ConstantCode;
                    var kept = Vector<int>.Zero;
                    if (options.RoundToFloat16)
                    {
                        // Storage rounding of (s, z) to float16 (HalfRounding equals (float)(Half)x); a value float16 cannot hold (0 or ±Inf)
                        // stays float32 and is counted.
                        var rs = HalfRounding.Round(s);
                        var rz = HalfRounding.Round(z);
                        var okS = Vector.GreaterThan(rs, Vector<float>.Zero) & HalfRounding.IsFinite(rs);
                        var okZ = HalfRounding.IsFinite(rz);
                        s = Vector.ConditionalSelect(okS, rs, s);
                        z = Vector.ConditionalSelect(okZ, rz, z);
                        kept = ~(okS & okZ);
                    }

                    s.CopyTo(sArr);
                    z.CopyTo(zArr);
                    for (int lane = 0; lane < lanes; lane++)
                    {
                        if (constant[lane] != 0)
                        {
                            (sArr[lane], zArr[lane], cArr[lane]) = ConstantGroup(tile[lane], options.RoundToFloat16);
                            if (lane < valid)
                            {
                                scratch.ConstantGroups++;
                            }
                        }
                        else
                        {
                            cArr[lane] = 0;
                            if (kept[lane] != 0 && lane < valid)
                            {
                                scratch.Unrounded++;
                            }
                        }

                        if (lane < valid)
                        {
                            scratch.Iterations += (long)used[lane];
                        }
                    }

                    if (full && len % 32 == 0)
                    {
                        solve.FinishPacked(tile, len, new Vector<float>(sArr), new Vector<float>(zArr), constant, new Vector<float>(cArr), codes.AsSpan((r0 * columns) + start), columns);
                    }
                    else
                    {
                        solve.Finish(tile, tileCodes, len, new Vector<float>(sArr), new Vector<float>(zArr), constant, new Vector<float>(cArr));
                        for (int lane = 0; lane < valid; lane++)
                        {
                            var dst = codes.AsSpan(((r0 + lane) * columns) + start, len);
                            for (int j = 0; j < len; j++)
                            {
                                dst[j] = (byte)tileCodes[(j * lanes) + lane];
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

    /// <summary>
    /// A constant group c is stored exactly with an integral zero: c &gt; 0 → (s = c, z = 0, q = 1); c &lt; 0 → (s = −c, z = 1, q = 0);
    /// c = 0 → (s = 1, z = 0, q = 0). With float16 rounding the scale is rounded when float16 holds it (exact for float16 values of c).
    /// </summary>
    public static (float Scale, float Zero, float Code) ConstantGroup(float c, bool roundToFloat16)
    {
        float s = c == 0 ? 1 : MathF.Abs(c);
        if (roundToFloat16)
        {
            float r = (float)(Half)s;
            s = r > 0 && float.IsFinite(r) ? r : s;
        }

        return c > 0 ? (s, 0, 1) : c < 0 ? (s, 1, 0) : (s, 0, 0);
    }

    private sealed class Scratch(int size)
    {
        public float[] Tile { get; } = new float[size];

        public float[] Codes { get; } = new float[size];

        public float[] Centered { get; } = new float[size];

        public float[] Scale { get; } = new float[Vector<float>.Count];

        public float[] Zero { get; } = new float[Vector<float>.Count];

        public float[] ConstantCode { get; } = new float[Vector<float>.Count];

        public long Iterations { get; set; }

        public int ConstantGroups { get; set; }

        public int Unrounded { get; set; }
    }
}
