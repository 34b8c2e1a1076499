using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LowBitQuant.Quantizers;

/// <summary>
/// The DASH-Q solve of one column group for <see cref="Vector{T}.Count"/> rows at once (one row per lane):
/// min Σ_j p_j (w_j − s·q_j − m)² + λ s² over s &gt; 0, m and q_j ∈ {0..Q_max}, by damped block-coordinate descent.
/// </summary>
/// <remarks>
/// The tile is column-major, <c>tile[j·V + lane]</c>: the group's weights p_j are shared by every lane. Each iteration:
/// Step A q = clamp(round((w − m)/s), 0, Q_max); Step B s* = Cov/(Var + λ), m* = w̄ − s*·q̄ on p-normalised moments;
/// damping s ← α s* + (1 − α) s, m ← α m* + (1 − α) m (algorithms/dashq.md §4–§5). Every lane is independent, so a row gives
/// the same result alone or inside a matrix. The arithmetic order is fixed and fused multiply-adds are not used, so a plain
/// scalar loop written the same way (tests/…/ReferenceDashQ.cs) reproduces it bit for bit.
/// </remarks>
internal readonly struct DashQGroupSolve
{
    /// <summary>Closed-form scale refits after the zero is rounded (integer-zero variant, algorithms/dashq.md §4.1).</summary>
    public const int IntegerZeroRefits = 3;

    /// <summary>Smallest scale relative to the min–max scale; only degenerate groups reach it (algorithms/dashq.md §7.7).</summary>
    public const float RelativeScaleFloor = 1e-8f;

    /// <summary>Smallest normal float32, the absolute scale floor (keeps 1/s finite).</summary>
    public const float SmallestNormal = 1.17549435E-38f;

    private readonly float _maxCode;
    private readonly int _iterations;
    private readonly float _alpha;
    private readonly float _oneMinusAlpha;
    private readonly float _ridge;
    private readonly bool _earlyStop;
    private readonly bool _integerZero;
    private readonly int _candidates;
    private readonly float _candidateStep;

    public DashQGroupSolve(DashQOptions options)
    {
        _maxCode = options.Scheme.MaxCode;
        _iterations = options.Iterations;
        _alpha = (float)options.Damping;
        _oneMinusAlpha = (float)(1 - options.Damping);
        _ridge = (float)options.Ridge;
        _earlyStop = options.EarlyStop;
        _integerZero = options.IntegerZeroPoint;
        _candidates = options.RangeCandidates;
        _candidateStep = (float)options.RangeCandidateStep;
    }

    public static int Lanes => Vector<float>.Count;

    /// <summary>
    /// Solves one tile. <paramref name="codes"/> receives the final codes (as floats, same layout as the tile); scale and zero are the
    /// lane values before storage rounding and the final code step, which <see cref="Finish"/> does.
    /// </summary>
    /// <param name="tile">len × V weights, column-major.</param>
    /// <param name="p">len normalised weights, Σ p = 1.</param>
    /// <param name="codes">len × V scratch; holds the last Step-A codes on return.</param>
    /// <param name="centered">len × V scratch for p_j·(w_j − w̄), computed once and reused by every Step B.</param>
    /// <param name="scale">Per lane s &gt; 0.</param>
    /// <param name="zero">Per lane z = −m/s (integral in the integer-zero variant).</param>
    /// <param name="iterationsUsed">Per lane iterations run.</param>
    /// <param name="constant">Per lane all-ones where the group is constant (handled exactly by <see cref="Finish"/>).</param>
    public void Solve(ReadOnlySpan<float> tile, ReadOnlySpan<float> p, Span<float> codes, Span<float> centered, out Vector<float> scale, out Vector<float> zero, out Vector<float> iterationsUsed, out Vector<int> constant)
    {
        int len = p.Length;
        int v = Vector<float>.Count;
        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref float q0 = ref MemoryMarshal.GetReference(codes);
        if (centered.Length < tile.Length || codes.Length < tile.Length || tile.Length < len * v)
        {
            throw new ArgumentOutOfRangeException(nameof(centered));
        }

        ref float c0 = ref MemoryMarshal.GetReference(centered);
        var maxq = new Vector<float>(_maxCode);

        // Statistics that do not depend on the codes.
        var min = Load(ref w0, 0);
        var max = min;
        var wbar = Vector<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var w = Load(ref w0, j * v);
            min = Vector.Min(min, w);
            max = Vector.Max(max, w);
            wbar += new Vector<float>(p[j]) * w;
        }

        var cbar = Vector<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var pc = new Vector<float>(p[j]) * (Load(ref w0, j * v) - wbar);
            Store(pc, ref c0, j * v);
            cbar += pc;
        }

        constant = Vector.Equals(max, min);
        var s = Vector.ConditionalSelect(constant, Vector<float>.One, (max / maxq) - (min / maxq));
        var m = min;
        var floor = Vector.Max(s * new Vector<float>(RelativeScaleFloor), new Vector<float>(SmallestNormal));

        if (_candidates > 0)
        {
            Search(ref w0, ref c0, p, ref q0, min, wbar, cbar, floor, ref s, ref m);
        }

        // Damped alternation.
        var done = Vector<int>.Zero;
        iterationsUsed = Vector<float>.Zero;
        var alpha = new Vector<float>(_alpha);
        var beta = new Vector<float>(_oneMinusAlpha);
        for (int t = 0; t < _iterations; t++)
        {
            var unchanged = StepA(ref w0, ref q0, len, s, m, t > 0);
            var (sStar, mStar) = StepB(ref c0, ref q0, p, wbar, cbar, floor, s);
            iterationsUsed += Vector.ConditionalSelect(done, Vector<float>.Zero, Vector<float>.One);
            var stopNow = _earlyStop && t > 0 ? Vector.AndNot(unchanged, done) : Vector<int>.Zero;
            var dampedS = (alpha * sStar) + (beta * s);
            var dampedM = (alpha * mStar) + (beta * m);
            var keep = done;
            s = Vector.ConditionalSelect(keep, s, Vector.ConditionalSelect(stopNow, sStar, dampedS));
            m = Vector.ConditionalSelect(keep, m, Vector.ConditionalSelect(stopNow, mStar, dampedM));
            done |= stopNow;
            if (Vector.EqualsAll(done, new Vector<int>(-1)))
            {
                break;
            }
        }

        var z = -m / s;
        if (_integerZero)
        {
            z = Vector.Min(Vector.Max(Vector.Round(z), Vector<float>.Zero), maxq);
            for (int k = 0; k < IntegerZeroRefits; k++)
            {
                var inv = Vector<float>.One / s;
                var num = Vector<float>.Zero;
                var den = Vector<float>.Zero;
                for (int j = 0; j < len; j++)
                {
                    var w = Load(ref w0, j * v);
                    var q = Vector.Min(Vector.Max(Vector.Round((w * inv) + z), Vector<float>.Zero), maxq);
                    var d = q - z;
                    var pd = new Vector<float>(p[j]) * d;
                    num += pd * w;
                    den += pd * d;
                }

                var refit = Vector.Max(num / den, floor);
                s = Vector.ConditionalSelect(Vector.GreaterThan(den, Vector<float>.Zero), refit, s);
            }
        }

        scale = s;
        zero = z;
    }

    /// <summary>Final Step A with the stored (s, z): q = clamp(round(w/s + z), 0, Q_max); constant lanes get their exact codes.</summary>
    public void Finish(ReadOnlySpan<float> tile, Span<float> codes, int len, Vector<float> scale, Vector<float> zero, Vector<int> constant, Vector<float> constantCode)
    {
        int v = Vector<float>.Count;
        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref float q0 = ref MemoryMarshal.GetReference(codes);
        var maxq = new Vector<float>(_maxCode);
        var inv = Vector<float>.One / scale;
        for (int j = 0; j < len; j++)
        {
            var q = Vector.Min(Vector.Max(Vector.Round((Load(ref w0, j * v) * inv) + zero), Vector<float>.Zero), maxq);
            Store(Vector.ConditionalSelect(constant, constantCode, q), ref q0, j * v);
        }
    }

    /// <summary>
    /// <see cref="Finish"/> with the codes written straight into the layer as bytes: lane k's codes go to
    /// <paramref name="codes"/>[k·<paramref name="stride"/> + j]. Needs <see cref="DashQTileTranspose.IsSupported"/>, all 8 lanes
    /// valid and <paramref name="len"/> a multiple of 32. Same arithmetic as <see cref="Finish"/>; four codes are packed per int
    /// (codes ≤ 255) and an 8 × 8 transpose turns the lanes into rows.
    /// </summary>
    public void FinishPacked(ReadOnlySpan<float> tile, int len, Vector<float> scale, Vector<float> zero, Vector<int> constant, Vector<float> constantCode, Span<byte> codes, int stride)
    {
        if ((long)(7 * stride) + len > codes.Length || len * 8 > tile.Length || len % 32 != 0 || !DashQTileTranspose.IsSupported)
        {
            throw new ArgumentOutOfRangeException(nameof(len));
        }

        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref byte b0 = ref MemoryMarshal.GetReference(codes);
        var maxq = new Vector<float>(_maxCode);
        var inv = Vector<float>.One / scale;
        for (int c = 0; c < len; c += 32)
        {
            ref float wc = ref Unsafe.Add(ref w0, c * 8);
            var a0 = Pack(ref wc, 0, inv, zero, maxq, constant, constantCode);
            var a1 = Pack(ref wc, 4, inv, zero, maxq, constant, constantCode);
            var a2 = Pack(ref wc, 8, inv, zero, maxq, constant, constantCode);
            var a3 = Pack(ref wc, 12, inv, zero, maxq, constant, constantCode);
            var a4 = Pack(ref wc, 16, inv, zero, maxq, constant, constantCode);
            var a5 = Pack(ref wc, 20, inv, zero, maxq, constant, constantCode);
            var a6 = Pack(ref wc, 24, inv, zero, maxq, constant, constantCode);
            var a7 = Pack(ref wc, 28, inv, zero, maxq, constant, constantCode);
            DashQTileTranspose.Transpose(ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            a0.AsByte().StoreUnsafe(ref b0, (nuint)c);
            a1.AsByte().StoreUnsafe(ref b0, (nuint)(stride + c));
            a2.AsByte().StoreUnsafe(ref b0, (nuint)((2 * stride) + c));
            a3.AsByte().StoreUnsafe(ref b0, (nuint)((3 * stride) + c));
            a4.AsByte().StoreUnsafe(ref b0, (nuint)((4 * stride) + c));
            a5.AsByte().StoreUnsafe(ref b0, (nuint)((5 * stride) + c));
            a6.AsByte().StoreUnsafe(ref b0, (nuint)((6 * stride) + c));
            a7.AsByte().StoreUnsafe(ref b0, (nuint)((7 * stride) + c));
        }
    }

    /// <summary>Step A: codes for (s, m); returns all-ones lanes where no code changed from the previous content of the code tile.</summary>
    private Vector<int> StepA(ref float w0, ref float q0, int len, Vector<float> s, Vector<float> m, bool compare)
    {
        int v = Vector<float>.Count;
        var maxq = new Vector<float>(_maxCode);
        var inv = Vector<float>.One / s;
        var unchanged = new Vector<int>(-1);
        for (int j = 0; j < len; j++)
        {
            var q = Vector.Min(Vector.Max(Vector.Round((Load(ref w0, j * v) - m) * inv), Vector<float>.Zero), maxq);
            unchanged &= Vector.Equals(q, Load(ref q0, j * v));
            Store(q, ref q0, j * v);
        }

        return compare ? unchanged : Vector<int>.Zero;
    }

    /// <summary>Step B: the exact minimiser (s*, m*) of Σ p (w − s q − m)² + λ s² for the codes in the code tile; c0 holds p·(w − w̄).</summary>
    private (Vector<float> Scale, Vector<float> Offset) StepB(ref float c0, ref float q0, ReadOnlySpan<float> p, Vector<float> wbar, Vector<float> cbar, Vector<float> floor, Vector<float> fallback)
    {
        int len = p.Length, v = Vector<float>.Count;
        var qbar = Vector<float>.Zero;
        var cq = Vector<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var pj = new Vector<float>(p[j]);
            var q = Load(ref q0, j * v);
            qbar += pj * q;
            cq += Load(ref c0, j * v) * q;
        }

        var variance = Vector<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var d = Load(ref q0, j * v) - qbar;
            variance += (new Vector<float>(p[j]) * d) * d;
        }

        var cov = cq - (cbar * qbar);
        var denominator = variance + new Vector<float>(_ridge);
        var sStar = Vector.ConditionalSelect(Vector.GreaterThan(denominator, Vector<float>.Zero), cov / denominator, fallback);
        sStar = Vector.Max(sStar, floor);
        var mStar = (wbar + cbar) - (sStar * qbar);
        return (sStar, mStar);
    }

    /// <summary>Range candidates around min–max (see <see cref="DashQOptions.RangeCandidates"/>); replaces (s, m) with the best start.</summary>
    private void Search(ref float w0, ref float c0, ReadOnlySpan<float> p, ref float q0, Vector<float> min, Vector<float> wbar, Vector<float> cbar, Vector<float> floor, ref Vector<float> s, ref Vector<float> m)
    {
        int len = p.Length;
        StepA(ref w0, ref q0, len, s, m, false);
        var best = Objective(ref w0, ref q0, p, s, m);
        var bestS = s;
        var bestM = m;
        var s0 = s;
        for (int k = 0; k < _candidates; k++)
        {
            float delta = _candidateStep * (k - ((_candidates - 1) / 2f));
            float levels = _maxCode + delta;
            if (!(levels > 0.5f))
            {
                continue;
            }

            var candidate = s0 * new Vector<float>(_maxCode / levels);
            StepA(ref w0, ref q0, len, candidate, min, false);
            var (sStar, mStar) = StepB(ref c0, ref q0, p, wbar, cbar, floor, candidate);
            var j = Objective(ref w0, ref q0, p, sStar, mStar);
            var better = Vector.LessThan(j, best);
            best = Vector.ConditionalSelect(better, j, best);
            bestS = Vector.ConditionalSelect(better, sStar, bestS);
            bestM = Vector.ConditionalSelect(better, mStar, bestM);
        }

        s = bestS;
        m = bestM;
    }

    /// <summary>Σ p (w − s q − m)² + λ s² for the codes in the code tile.</summary>
    private Vector<float> Objective(ref float w0, ref float q0, ReadOnlySpan<float> p, Vector<float> s, Vector<float> m)
    {
        int v = Vector<float>.Count;
        var sum = Vector<float>.Zero;
        for (int j = 0; j < p.Length; j++)
        {
            var e = Load(ref w0, j * v) - ((s * Load(ref q0, j * v)) + m);
            sum += (new Vector<float>(p[j]) * e) * e;
        }

        return sum + (new Vector<float>(_ridge) * (s * s));
    }

    /// <summary>Codes of columns j..j+3 (the <see cref="Finish"/> formula) packed little-endian into one int per lane, as float bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pack(ref float w, int j, Vector<float> inv, Vector<float> zero, Vector<float> maxq, Vector<int> constant, Vector<float> constantCode)
    {
        int v = Vector<float>.Count;
        var packed = Code(ref w, j * v, inv, zero, maxq, constant, constantCode);
        packed |= Vector.ShiftLeft(Code(ref w, (j + 1) * v, inv, zero, maxq, constant, constantCode), 8);
        packed |= Vector.ShiftLeft(Code(ref w, (j + 2) * v, inv, zero, maxq, constant, constantCode), 16);
        packed |= Vector.ShiftLeft(Code(ref w, (j + 3) * v, inv, zero, maxq, constant, constantCode), 24);
        return packed.AsVector256().AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> Code(ref float w, int offset, Vector<float> inv, Vector<float> zero, Vector<float> maxq, Vector<int> constant, Vector<float> constantCode)
    {
        var q = Vector.Min(Vector.Max(Vector.Round((Load(ref w, offset) * inv) + zero), Vector<float>.Zero), maxq);
        return Vector.ConvertToInt32(Vector.ConditionalSelect(constant, constantCode, q));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Load(ref float source, int offset) => Vector.LoadUnsafe(ref source, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector<float> value, ref float destination, int offset) => value.StoreUnsafe(ref destination, (nuint)offset);
}
