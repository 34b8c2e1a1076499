using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using LowBitQuant.Quantizers;

namespace LowBitQuant.Kernels.Gpu;

/// <summary>
/// DASH-Q on a GPU: one thread per (row, column group) solves min Σ_j p_j (w_j − s·q_j − m)² + λ s² over s &gt; 0, m and
/// q_j ∈ {0..Q_max} with the same float32 operations, in the same order, as one lane of the CPU <c>DashQGroupSolve</c>
/// (min–max start, optional range search, damped alternation with early stop, optional integer zero, float16 storage rounding,
/// final code step, exact constant groups), so both give bit-identical codes, scales and zeros.
/// </summary>
/// <remarks>
/// Bit-exactness needs every product rounded on its own, as on the CPU (the .NET JIT never contracts a·b + c into a fused
/// multiply-add). ILGPU's PTX backend emits <c>mul.f32</c>, which ptxas may fuse with a following add into one <c>fma</c> (one
/// rounding instead of two), so every product goes through the kernel's <see cref="IProduct"/>: <see cref="RoundedPtxProduct"/> on CUDA
/// (inline <c>mul.rn.f32</c>, whose explicit rounding mode forbids the fusion), <see cref="PlainProduct"/> elsewhere. Division is
/// <c>div.rn.f32</c> (IEEE) in ILGPU's default math mode, and ILGPU lowers <c>MathF.Round</c> to the exact ties-to-even sequence
/// (x ± 2²³) ∓ 2²³. Min/max follow .NET's <c>Math.Min/Max</c> (NaN propagates, −0 &lt; +0) by explicit comparisons rather than the
/// device's min/max instructions. The thread's slice of the codes buffer doubles as its code scratch (the previous iteration's
/// codes, for the early stop), so the kernel needs no other memory.
/// </remarks>
internal static class DashQKernel
{
    /// <summary>Implicitly grouped: thread i solves row i / groups, group i mod groups; Rows × Groups threads.</summary>
    /// <typeparam name="TProduct">How products are formed (<see cref="RoundedPtxProduct"/> on CUDA, else <see cref="PlainProduct"/>).</typeparam>
    /// <param name="index">The (row, group) solve, row-major like the scales.</param>
    /// <param name="weights">Rows × Columns weights, row-major.</param>
    /// <param name="p">Columns normalised per-group weights (each group's entries sum to 1).</param>
    /// <param name="codes">Rows × Columns codes (out; also the scratch of the iterations).</param>
    /// <param name="scales">Rows × Groups scales (out).</param>
    /// <param name="zeros">Rows × Groups zeros in the code domain (out).</param>
    /// <param name="iterations">Rows × Groups iterations run (out).</param>
    /// <param name="flags">Rows × Groups: <see cref="ConstantFlag"/> | <see cref="UnroundedFlag"/> (out).</param>
    /// <param name="settings">The shape and the solver settings.</param>
    public static void Solve<TProduct>(Index1D index, ArrayView<float> weights, ArrayView<float> p, ArrayView<byte> codes, ArrayView<float> scales, ArrayView<float> zeros, ArrayView<int> iterations, ArrayView<byte> flags, DashQKernelSettings settings)
        where TProduct : struct, IProduct
    {
        int row = index / settings.Groups;
        int group = index - (row * settings.Groups);
        int start = group * settings.Width;
        int len = settings.Columns - start < settings.Width ? settings.Columns - start : settings.Width;
        long offset = ((long)row * settings.Columns) + start;
        var w = weights.SubView(offset, len);
        var pg = p.SubView(start, len);
        var q = codes.SubView(offset, len);
        float maxq = settings.MaxCode;

        // Statistics that do not depend on the codes.
        float min = w[0], max = min, wbar = 0f;
        for (int j = 0; j < len; j++)
        {
            min = Min(min, w[j]);
            max = Max(max, w[j]);
            wbar += TProduct.Multiply(pg[j], w[j]);
        }

        float cbar = 0f;
        for (int j = 0; j < len; j++)
        {
            cbar += TProduct.Multiply(pg[j], w[j] - wbar);
        }

        bool constant = max == min;
        float s = constant ? 1f : (max / maxq) - (min / maxq);
        float m = min;
        float floor = Max(TProduct.Multiply(s, DashQGroupSolve.RelativeScaleFloor), DashQGroupSolve.SmallestNormal);

        if (settings.RangeCandidates > 0)
        {
            StepA<TProduct>(w, q, s, m, maxq);
            float best = Objective<TProduct>(w, q, pg, s, m, settings.Ridge), bestS = s, bestM = m, s0 = s;
            for (int k = 0; k < settings.RangeCandidates; k++)
            {
                float delta = TProduct.Multiply(settings.RangeCandidateStep, k - ((settings.RangeCandidates - 1) / 2f));
                float levels = maxq + delta;
                if (!(levels > 0.5f))
                {
                    continue;
                }

                float candidate = TProduct.Multiply(s0, maxq / levels);
                StepA<TProduct>(w, q, candidate, min, maxq);
                StepB<TProduct>(w, q, pg, wbar, cbar, floor, candidate, settings.Ridge, out float cs, out float cm);
                float objective = Objective<TProduct>(w, q, pg, cs, cm, settings.Ridge);
                if (objective < best)
                {
                    best = objective;
                    bestS = cs;
                    bestM = cm;
                }
            }

            s = bestS;
            m = bestM;
        }

        // Damped alternation; an early stop takes the undamped step.
        int used = 0;
        for (int t = 0; t < settings.Iterations; t++)
        {
            bool unchanged = StepA<TProduct>(w, q, s, m, maxq);
            StepB<TProduct>(w, q, pg, wbar, cbar, floor, s, settings.Ridge, out float sStar, out float mStar);
            used++;
            if (settings.EarlyStop != 0 && t > 0 && unchanged)
            {
                s = sStar;
                m = mStar;
                break;
            }

            float dampedS = TProduct.Multiply(settings.Alpha, sStar) + TProduct.Multiply(settings.Beta, s);
            float dampedM = TProduct.Multiply(settings.Alpha, mStar) + TProduct.Multiply(settings.Beta, m);
            s = dampedS;
            m = dampedM;
        }

        float z = -m / s;
        if (settings.IntegerZero != 0)
        {
            z = Min(Max(MathF.Round(z), 0f), maxq);
            for (int k = 0; k < DashQGroupSolve.IntegerZeroRefits; k++)
            {
                float inv = 1f / s, num = 0f, den = 0f;
                for (int j = 0; j < len; j++)
                {
                    float code = Min(Max(MathF.Round(TProduct.Multiply(w[j], inv) + z), 0f), maxq);
                    float d = code - z;
                    float pd = TProduct.Multiply(pg[j], d);
                    num += TProduct.Multiply(pd, w[j]);
                    den += TProduct.Multiply(pd, d);
                }

                float refit = Max(num / den, floor);
                s = den > 0f ? refit : s;
            }
        }

        byte flag = 0;
        if (settings.RoundToFloat16 != 0)
        {
            // A value float16 cannot hold (0 or ±Inf after rounding) stays float32 and is flagged.
            float rs = RoundToHalf(s), rz = RoundToHalf(z);
            bool okS = rs > 0f && IsFinite(rs), okZ = IsFinite(rz);
            s = okS ? rs : s;
            z = okZ ? rz : z;
            flag = okS && okZ ? (byte)0 : UnroundedFlag;
        }

        float constantCode = 0f;
        if (constant)
        {
            // Stored exactly with an integral zero: c > 0 → (|c|, 0, 1); c < 0 → (|c|, 1, 0); c = 0 → (1, 0, 0).
            float c = w[0];
            float cs = c == 0f ? 1f : (c < 0f ? -c : c);
            if (settings.RoundToFloat16 != 0)
            {
                float r = RoundToHalf(cs);
                cs = r > 0f && IsFinite(r) ? r : cs;
            }

            s = cs;
            z = c < 0f ? 1f : 0f;
            constantCode = c > 0f ? 1f : 0f;
            flag = ConstantFlag;
        }

        float invFinal = 1f / s;
        for (int j = 0; j < len; j++)
        {
            float code = Min(Max(MathF.Round(TProduct.Multiply(w[j], invFinal) + z), 0f), maxq);
            q[j] = (byte)(constant ? constantCode : code);
        }

        scales[index] = s;
        zeros[index] = z;
        iterations[index] = used;
        flags[index] = flag;
    }

    /// <summary>Flag: the group was constant and is stored exactly.</summary>
    public const byte ConstantFlag = 1;

    /// <summary>Flag: float16 could not hold the scale or the zero, which stayed float32.</summary>
    public const byte UnroundedFlag = 2;

    /// <summary>
    /// <c>(float)(Half)x</c> without <see cref="System.Half"/> (not available in kernels): round to nearest even onto the float16 grid,
    /// ±Inf past 65504, non-finite stays non-finite; the integer steps of the CPU <c>HalfRounding</c>, one value at a time.
    /// </summary>
    public static float RoundToHalf(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        uint abs = bits & 0x7FFF_FFFFu;
        uint sign = bits ^ abs;

        // Normal float16 range: drop 13 mantissa bits, ties to even (a carry moves into the exponent, as it should).
        uint lsb = (abs >> 13) & 1u;
        uint normal = (abs + 0xFFFu + lsb) & ~0x1FFFu;

        // Subnormal float16 range (|x| < 2^-14): the grid is multiples of 2^-24, the float32 ulp on [0.5, 1), so adding and
        // subtracting 0.5 rounds onto it exactly (ties to even).
        uint subnormal = Interop.FloatAsInt((Interop.IntAsFloat(abs) + 0.5f) - 0.5f);

        uint r = abs < 0x3880_0000u ? subnormal : normal;
        r = r > 0x477F_E000u ? 0x7F80_0000u : r;
        r = abs >= 0x7F80_0000u ? abs : r;
        return Interop.IntAsFloat(r | sign);
    }

    /// <summary>Step A: q = clamp(round((w − m)/s)) into the code scratch; true where no code changed.</summary>
    private static bool StepA<TProduct>(ArrayView<float> w, ArrayView<byte> q, float s, float m, float maxq)
        where TProduct : struct, IProduct
    {
        float inv = 1f / s;
        bool unchanged = true;
        for (int j = 0; j < w.IntLength; j++)
        {
            byte code = (byte)Min(Max(MathF.Round(TProduct.Multiply(w[j] - m, inv)), 0f), maxq);
            unchanged &= code == q[j];
            q[j] = code;
        }

        return unchanged;
    }

    /// <summary>Step B: the exact minimiser s* = Cov_p(w, q)/(Var_p(q) + λ) (at least the floor), m* = w̄ − s*·q̄ for the codes in q.</summary>
    private static void StepB<TProduct>(ArrayView<float> w, ArrayView<byte> q, ArrayView<float> p, float wbar, float cbar, float floor, float fallback, float ridge, out float scale, out float offset)
        where TProduct : struct, IProduct
    {
        int len = w.IntLength;
        float qbar = 0f, cq = 0f;
        for (int j = 0; j < len; j++)
        {
            float code = q[j];
            qbar += TProduct.Multiply(p[j], code);
            cq += TProduct.Multiply(TProduct.Multiply(p[j], w[j] - wbar), code);
        }

        float variance = 0f;
        for (int j = 0; j < len; j++)
        {
            float d = q[j] - qbar;
            variance += TProduct.Multiply(TProduct.Multiply(p[j], d), d);
        }

        float cov = cq - TProduct.Multiply(cbar, qbar);
        float denominator = variance + ridge;
        scale = Max(denominator > 0f ? cov / denominator : fallback, floor);
        offset = (wbar + cbar) - TProduct.Multiply(scale, qbar);
    }

    /// <summary>Σ p (w − s q − m)² + λ s² for the codes in q.</summary>
    private static float Objective<TProduct>(ArrayView<float> w, ArrayView<byte> q, ArrayView<float> p, float s, float m, float ridge)
        where TProduct : struct, IProduct
    {
        float sum = 0f;
        for (int j = 0; j < w.IntLength; j++)
        {
            float e = w[j] - (TProduct.Multiply(s, q[j]) + m);
            sum += TProduct.Multiply(TProduct.Multiply(p[j], e), e);
        }

        return sum + TProduct.Multiply(ridge, TProduct.Multiply(s, s));
    }

    /// <summary>How a kernel forms a float32 product a·b.</summary>
    public interface IProduct
    {
        /// <summary>a·b rounded to float32 on its own (never fused with a following add).</summary>
        static abstract float Multiply(float a, float b);
    }

    /// <summary>a·b as the C# operator: exact for the CPU accelerator (the .NET JIT never contracts); OpenCL compilers may contract.</summary>
    public readonly struct PlainProduct : IProduct
    {
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Multiply(float a, float b) => a * b;
    }

    /// <summary>a·b as inline PTX <c>mul.rn.f32</c>: the explicit rounding mode forbids ptxas to fuse it into an fma. CUDA only.</summary>
    public readonly struct RoundedPtxProduct : IProduct
    {
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Multiply(float a, float b)
        {
            CudaAsm.Emit("mul.rn.f32 %0, %1, %2;", out float product, a, b);
            return product;
        }
    }

    /// <summary>.NET's <c>Math.Max</c>: NaN if either is NaN, +0 over −0.</summary>
    private static float Max(float a, float b)
    {
        if (a != b)
        {
            return IsNaN(a) ? a : (b < a ? a : b);
        }

        return IsNegative(b) ? a : b;
    }

    /// <summary>.NET's <c>Math.Min</c>: NaN if either is NaN, −0 over +0.</summary>
    private static float Min(float a, float b)
    {
        if (a != b)
        {
            return IsNaN(a) ? a : (a < b ? a : b);
        }

        return IsNegative(a) ? a : b;
    }

    private static bool IsNaN(float x) => (Interop.FloatAsInt(x) & 0x7FFF_FFFFu) > 0x7F80_0000u;

    private static bool IsNegative(float x) => (Interop.FloatAsInt(x) & 0x8000_0000u) != 0;

    private static bool IsFinite(float x) => (Interop.FloatAsInt(x) & 0x7FFF_FFFFu) < 0x7F80_0000u;
}
