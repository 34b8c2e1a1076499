using System.Numerics.Tensors;
using LowBitQuant.Kernels.Cpu;
using Microsoft.Extensions.Logging;

namespace LowBitQuant.Quantizers.Gptq;

/// <summary>The GPTQ solve of one layer (algorithms/gptq.md §3), in the order the spec lists the steps.</summary>
internal static class GptqSolver
{
    private const int RowChunk = 16;

    /// <summary>The outcome: a tensor, or the damping values that all failed.</summary>
    internal readonly record struct Result(QuantizedTensor? Tensor, IReadOnlyList<double> DampingTried);

    public static Result Solve(DenseMatrix weights, HessianEstimate hessian, GptqOptions options, ILogger? logger, CancellationToken ct)
    {
        var scheme = options.Scheme;
        int rows = weights.Rows, c = weights.Columns, maxq = scheme.MaxCode;
        float[] w = weights.Data.ToArray();
        float[] h = hessian.MatrixArray;
        bool grouped = scheme.GroupSize is not null;
        int g = scheme.GroupWidth(c), groups = scheme.GroupCount(c);
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];

        // Step 0: without groups, one grid per row fitted on the original weights (before dead columns are zeroed).
        if (!grouped)
        {
            Parallel.For(0, rows, r => FitInto(w.AsSpan(r * c, c), scheme, options.ClipSearch, scales, zeros, r * groups));
        }

        // Step 1: dead columns (H_jj == 0) get H_jj = 1 and zero weights.
        var diag = new double[c];
        int dead = 0;
        for (int j = 0; j < c; j++)
        {
            diag[j] = h[((long)j * c) + j];
            if (diag[j] == 0)
            {
                diag[j] = 1;
                dead++;
                for (int r = 0; r < rows; r++)
                {
                    w[(r * c) + j] = 0;
                }
            }
        }

        // Step 3 (order first, so static fitting knows the layout): the processing permutation.
        int[] perm = Permutation(diag, options.ColumnOrder, g, grouped);
        bool staticGroups = grouped && options.ColumnOrder == GptqColumnOrder.ActOrderStaticGroups;
        bool dynamicGroups = grouped && !staticGroups;

        // Step 2: static groups fitted on the original-order weights after step 1.
        if (staticGroups)
        {
            Parallel.For(0, rows, r =>
            {
                for (int gi = 0; gi < groups; gi++)
                {
                    int start = gi * g;
                    FitInto(w.AsSpan((r * c) + start, Math.Min(g, c - start)), scheme, options.ClipSearch, scales, zeros, (r * groups) + gi);
                }
            });
        }

        // The grid slot of each processing position.
        var slot = new int[c];
        for (int k = 0; k < c; k++)
        {
            slot[k] = !grouped ? 0 : options.ColumnOrder is GptqColumnOrder.Natural or GptqColumnOrder.ActOrder ? k / g : perm[k] / g;
        }

        // End (exclusive) of the dynamic segment starting at each position.
        var segmentEnd = new int[c];
        for (int k = c - 1; k >= 0; k--)
        {
            segmentEnd[k] = k + 1 < c && slot[k + 1] == slot[k] ? segmentEnd[k + 1] : k + 1;
        }

        // Permuted weights and Hessian (double).
        var wp = new float[w.Length];
        Parallel.For(0, rows, r =>
        {
            int b = r * c;
            for (int k = 0; k < c; k++)
            {
                wp[b + k] = w[b + perm[k]];
            }
        });
        var hp = new double[(long)c * c];
        Parallel.For(0, c, i =>
        {
            long src = (long)perm[i] * c, dst = (long)i * c;
            for (int j = 0; j < c; j++)
            {
                hp[dst + j] = h[src + perm[j]];
            }

            hp[dst + i] = diag[perm[i]];
        });

        // Steps 4–5: damping with escalation, then U = upper Cholesky factor of (H + λI)⁻¹ in float64.
        double meanDiag = diag.Average();
        var u = new double[(long)c * c];
        var tried = new List<double>();
        double damp = options.Dampening;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            tried.Add(damp);
            int failed = Cholesky.InverseUpperFactor(hp, c, u, damp * meanDiag);
            if (failed < 0)
            {
                break;
            }

            double next = Math.Round(damp + options.DampeningIncrement, 12);
            if (next > options.MaxDampening + 1e-12)
            {
                return new Result(null, tried);
            }

            logger?.LogWarning("GPTQ: Cholesky factorisation failed at damping {Damping} × mean(diag H) (pivot {Pivot}); retrying with {Next}.", damp, c - 1 - failed, next);
            damp = next;
        }

        var uf = new float[u.Length];
        for (long i = 0; i < u.Length; i++)
        {
            uf[i] = (float)u[i];
        }

        u = null!;
        hp = null!;

        // Step 6: the column loop with lazy block updates.
        var codes = new byte[(long)rows * c];
        int blockSize = options.BlockSize;
        var e = new float[rows * Math.Min(blockSize, c)];
        int chunks = (rows + RowChunk - 1) / RowChunk;
        for (int i1 = 0; i1 < c;)
        {
            ct.ThrowIfCancellationRequested();
            int i2 = Math.Min(i1 + blockSize, c);
            if (dynamicGroups)
            {
                // Cut the block at the next group start, so every grid is fitted on fully updated weights.
                i2 = Math.Min(i2, segmentEnd[i1]);
            }

            int bw = i2 - i1, start = i1;
            bool fitHere = dynamicGroups && (start == 0 || slot[start] != slot[start - 1]);
            Parallel.For(0, chunks, chunk =>
            {
                int r1 = Math.Min((chunk + 1) * RowChunk, rows);
                for (int r = chunk * RowChunk; r < r1; r++)
                {
                    var row = wp.AsSpan(r * c, c);
                    if (fitHere)
                    {
                        FitInto(row[start..segmentEnd[start]], scheme, options.ClipSearch, scales, zeros, (r * groups) + slot[start]);
                    }

                    var er = e.AsSpan(r * bw, bw);
                    for (int k = start; k < start + bw; k++)
                    {
                        int gi = (r * groups) + slot[k];
                        float s = scales[gi], z = zeros[gi];
                        float x = row[k];
                        byte q = AffineScalar.Quantize(x, s, z, maxq);
                        float err = (x - AffineScalar.Dequantize(q, s, z)) / uf[((long)k * c) + k];
                        codes[((long)r * c) + perm[k]] = q;
                        er[k - start] = err;
                        int rest = start + bw - k - 1;
                        if (rest > 0)
                        {
                            var target = row.Slice(k + 1, rest);
                            TensorPrimitives.MultiplyAdd(uf.AsSpan((int)(((long)k * c) + k + 1), rest), -err, target, target);
                        }
                    }
                }
            });

            if (i2 < c)
            {
                CpuKernels.MultiplySubtract(e.AsSpan(0, rows * bw), bw, uf.AsSpan((int)(((long)i1 * c) + i2)), c, wp.AsSpan(i2), c, rows, c - i2, bw);
            }

            i1 = i2;
        }

        // Step 7: g_idx only when groups follow the processing order.
        int[] groupIndex = [];
        if (grouped && options.ColumnOrder == GptqColumnOrder.ActOrder)
        {
            groupIndex = new int[c];
            for (int k = 0; k < c; k++)
            {
                groupIndex[perm[k]] = k / g;
            }
        }

        var notes = new List<string> { $"column order {options.ColumnOrder}", $"block size {blockSize}" };
        if (dead > 0)
        {
            notes.Add($"{dead} dead column(s) (H_jj = 0) set to 0");
        }

        if (options.ClipSearch is not null)
        {
            notes.Add("clip search (unweighted)");
        }

        var tensor = new QuantizedTensor(scheme, rows, c, codes, scales, zeros, groupIndex, diagnostics: new QuantizationDiagnostics
        {
            Method = "gptq",
            Damping = damp,
            DampingEscalations = tried.Count - 1,
            Notes = notes,
        });
        return new Result(tensor, tried);
    }

    /// <summary>The processing order: identity, or descending diag H (stable), or group-aware (algorithms/gptq.md §8.2).</summary>
    internal static int[] Permutation(double[] diag, GptqColumnOrder order, int g, bool grouped)
    {
        int c = diag.Length;
        var perm = Enumerable.Range(0, c).ToArray();
        if (order == GptqColumnOrder.Natural)
        {
            return perm;
        }

        if (order == GptqColumnOrder.GroupAware && grouped)
        {
            int groups = (c + g - 1) / g;
            var score = new double[groups];
            for (int j = 0; j < c; j++)
            {
                score[j / g] = j % g == 0 ? diag[j] : Math.Max(score[j / g], diag[j]);
            }

            // OrderBy is a stable sort.
            return perm.OrderByDescending(j => score[j / g]).ThenBy(j => j / g).ThenByDescending(j => diag[j]).ToArray();
        }

        return perm.OrderByDescending(j => diag[j]).ToArray();
    }

    private static void FitInto(ReadOnlySpan<float> x, QuantizationScheme scheme, ClipSearch? search, float[] scales, float[] zeros, int at)
    {
        var (s, z) = search is null ? AffineGrid.Fit(x, scheme) : AffineGrid.FitWithSearch(x, default, scheme, search);
        scales[at] = s;
        zeros[at] = z;
    }
}
