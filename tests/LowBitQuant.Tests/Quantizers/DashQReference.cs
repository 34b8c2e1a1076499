namespace LowBitQuant.Tests.Quantizers;

/// <summary>
/// Plain scalar DASH-Q written from algorithms/dashq.md §4–§5, one (row, group) at a time, with the same float32 operation order as
/// the vectorised solver so the two can be compared bit for bit.
/// </summary>
public static class DashQReference
{
    public sealed record GroupResult(float Scale, float Zero, byte[] Codes, int Iterations);

    /// <summary>p_j = (max(h_j, 0) + 1e-4·mean(h)) / Σ_group (…); uniform 1/len when the group sum is 0.</summary>
    public static float[] Weights(float[] h, int width)
    {
        double mean = 0;
        foreach (float v in h)
        {
            mean += Math.Max(v, 0f);
        }

        mean /= h.Length;
        var p = new float[h.Length];
        for (int start = 0; start < h.Length; start += width)
        {
            int len = Math.Min(width, h.Length - start);
            double sum = 0;
            for (int j = start; j < start + len; j++)
            {
                sum += Math.Max(h[j], 0f) + (1e-4 * mean);
            }

            for (int j = start; j < start + len; j++)
            {
                p[j] = sum > 0 ? (float)((Math.Max(h[j], 0f) + (1e-4 * mean)) / sum) : (float)(1.0 / len);
            }
        }

        return p;
    }

    /// <summary>One group.</summary>
    public static GroupResult SolveGroup(ReadOnlySpan<float> weights, ReadOnlySpan<float> normalized, DashQOptions o)
    {
        float[] w = weights.ToArray(), p = normalized.ToArray();
        int len = w.Length;
        float maxq = o.Scheme.MaxCode, alpha = (float)o.Damping, beta = (float)(1 - o.Damping), ridge = (float)o.Ridge;
        float min = w[0], max = w[0], wbar = 0;
        for (int j = 0; j < len; j++)
        {
            min = Math.Min(min, w[j]);
            max = Math.Max(max, w[j]);
            wbar += p[j] * w[j];
        }

        float cbar = 0;
        for (int j = 0; j < len; j++)
        {
            cbar += p[j] * (w[j] - wbar);
        }

        if (max == min)
        {
            float c = min;
            float sc = c == 0 ? 1 : Math.Abs(c);
            if (o.RoundToFloat16 && (float)(Half)sc > 0 && float.IsFinite((float)(Half)sc))
            {
                sc = (float)(Half)sc;
            }

            var codes = new byte[len];
            Array.Fill(codes, (byte)(c > 0 ? 1 : 0));
            return new GroupResult(sc, c < 0 ? 1 : 0, codes, 0);
        }

        float s = (max / maxq) - (min / maxq), m = min;
        float floor = Math.Max(s * 1e-8f, 1.17549435E-38f);
        var q = new float[len];
        var prev = new float[len];

        void StepA(float scale, float offset)
        {
            float inv = 1f / scale;
            for (int j = 0; j < len; j++)
            {
                q[j] = Math.Min(Math.Max(MathF.Round((w[j] - offset) * inv), 0f), maxq);
            }
        }

        (float S, float M) StepB(float fallback)
        {
            float qbar = 0, cq = 0, variance = 0;
            for (int j = 0; j < len; j++)
            {
                qbar += p[j] * q[j];
                cq += (p[j] * (w[j] - wbar)) * q[j];
            }

            for (int j = 0; j < len; j++)
            {
                float d = q[j] - qbar;
                variance += (p[j] * d) * d;
            }

            float cov = cq - (cbar * qbar);
            float den = variance + ridge;
            float ss = den > 0 ? cov / den : fallback;
            ss = Math.Max(ss, floor);
            return (ss, (wbar + cbar) - (ss * qbar));
        }

        float Objective(float scale, float offset)
        {
            float sum = 0;
            for (int j = 0; j < len; j++)
            {
                float e = w[j] - ((scale * q[j]) + offset);
                sum += (p[j] * e) * e;
            }

            return sum + (ridge * (scale * scale));
        }

        if (o.RangeCandidates > 0)
        {
            StepA(s, m);
            float best = Objective(s, m), bestS = s, bestM = m, s0 = s;
            for (int k = 0; k < o.RangeCandidates; k++)
            {
                float delta = (float)o.RangeCandidateStep * (k - ((o.RangeCandidates - 1) / 2f));
                float levels = maxq + delta;
                if (!(levels > 0.5f))
                {
                    continue;
                }

                float cand = s0 * (maxq / levels);
                StepA(cand, min);
                var (cs, cm) = StepB(cand);
                float jv = Objective(cs, cm);
                if (jv < best)
                {
                    (best, bestS, bestM) = (jv, cs, cm);
                }
            }

            (s, m) = (bestS, bestM);
        }

        int iterations = 0;
        for (int t = 0; t < o.Iterations; t++)
        {
            q.CopyTo(prev, 0);
            StepA(s, m);
            bool unchanged = q.AsSpan().SequenceEqual(prev);
            var (ss, ms) = StepB(s);
            iterations++;
            if (o.EarlyStop && t > 0 && unchanged)
            {
                (s, m) = (ss, ms);
                break;
            }

            s = (alpha * ss) + (beta * s);
            m = (alpha * ms) + (beta * m);
        }

        float z = -m / s;
        if (o.IntegerZeroPoint)
        {
            z = Math.Min(Math.Max(MathF.Round(z), 0f), maxq);
            for (int k = 0; k < 3; k++)
            {
                float inv = 1f / s, num = 0, den = 0;
                for (int j = 0; j < len; j++)
                {
                    float qq = Math.Min(Math.Max(MathF.Round((w[j] * inv) + z), 0f), maxq);
                    float d = qq - z;
                    num += (p[j] * d) * w[j];
                    den += (p[j] * d) * d;
                }

                if (den > 0)
                {
                    s = Math.Max(num / den, floor);
                }
            }
        }

        if (o.RoundToFloat16)
        {
            float rs = (float)(Half)s, rz = (float)(Half)z;
            s = rs > 0 && float.IsFinite(rs) ? rs : s;
            z = float.IsFinite(rz) ? rz : z;
        }

        var final = new byte[len];
        float invFinal = 1f / s;
        for (int j = 0; j < len; j++)
        {
            final[j] = (byte)Math.Min(Math.Max(MathF.Round((w[j] * invFinal) + z), 0f), maxq);
        }

        return new GroupResult(s, z, final, iterations);
    }

    /// <summary>A whole layer: (codes, scales, zeros) laid out as <see cref="QuantizedTensor"/>.</summary>
    public static (byte[] Codes, float[] Scales, float[] Zeros) Solve(float[] w, int rows, int columns, float[] h, DashQOptions o)
    {
        int width = o.Scheme.GroupWidth(columns), groups = o.Scheme.GroupCount(columns);
        var p = Weights(h, width);
        var codes = new byte[rows * columns];
        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * width, len = Math.Min(width, columns - start);
                var res = SolveGroup(w.AsSpan((r * columns) + start, len), p.AsSpan(start, len), o);
                res.Codes.CopyTo(codes, (r * columns) + start);
                scales[(r * groups) + g] = res.Scale;
                zeros[(r * groups) + g] = res.Zero;
            }
        }

        return (codes, scales, zeros);
    }

    /// <summary>Σ p (w − s(q − z))² in float64 (the weighted error, without the ridge).</summary>
    public static double WeightedError(ReadOnlySpan<float> w, ReadOnlySpan<float> p, ReadOnlySpan<byte> q, double s, double z)
    {
        double sum = 0;
        for (int j = 0; j < w.Length; j++)
        {
            double e = w[j] - (s * (q[j] - z));
            sum += p[j] * e * e;
        }

        return sum;
    }
}
