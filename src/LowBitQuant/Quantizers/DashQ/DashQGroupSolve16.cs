using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBitQuant.Quantizers;

/// <summary>
/// The AVX-512 twin of <see cref="DashQGroupSolve"/>: one column group for 16 rows at once (one row per lane of a
/// <see cref="Vector512{T}"/>), with the same per-lane arithmetic in the same order, so every row gets the same bits as the 8-lane
/// solver and the scalar reference.
/// </summary>
/// <remarks>
/// The tile is column-major, <c>tile[j·16 + lane]</c>. Differences from <see cref="DashQGroupSolve"/> that leave the results unchanged:
/// Step A and the first sums of Step B run in one pass over the tile (each lane's sums keep their order); round-and-clamp
/// is four instructions (<see cref="RoundClamp"/>, equal bit for bit to Round then the IEEE min/max of <see cref="Vector512.Max{T}"/>, eight);
/// the early-stop test blends instead of and-ing a materialised mask; the codes are packed and written with 512-bit operations.
/// </remarks>
internal readonly struct DashQGroupSolve16
{
    /// <summary>Rows per tile.</summary>
    public const int Lanes = 16;

    /// <summary>2^23: adding it to a value in [0, 2^23) rounds to the nearest integer (ties to even) and leaves that integer in the low mantissa bits.</summary>
    private const float Magic = 8388608f;

    private readonly float _maxCode;
    private readonly int _iterations;
    private readonly float _alpha;
    private readonly float _oneMinusAlpha;
    private readonly float _ridge;
    private readonly bool _earlyStop;
    private readonly bool _integerZero;
    private readonly int _candidates;
    private readonly float _candidateStep;

    public DashQGroupSolve16(DashQOptions options)
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

    /// <summary>True where the 16-lane path runs: AVX-512 F, BW and DQ.</summary>
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported;

    /// <summary>
    /// <see cref="Vector512.Min{T}"/> for values that are not NaN (finite weights), in one <c>vrangeps</c> instead of five instructions:
    /// the sign comes from the comparison, so min(−0, +0) = −0 as in IEEE 754. (vrangeps returns the number for a quiet NaN.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MinOfNumbers(Vector512<float> a, Vector512<float> b) => Avx512DQ.Range(a, b, 0b0100);

    /// <summary><see cref="Vector512.Max{T}"/> for values that are not NaN, as <see cref="MinOfNumbers"/> (max(−0, +0) = +0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaxOfNumbers(Vector512<float> a, Vector512<float> b) => Avx512DQ.Range(a, b, 0b0101);

    /// <summary>
    /// clamp(round(x), 0, Q_max), bit for bit as <c>Vector512.Min(Vector512.Max(Vector512.Round(x), 0), maxq)</c> with its IEEE min/max
    /// (NaN propagates, −0 becomes +0), in four instructions instead of eight: clamp first (equal, as 0 and Q_max are integers and
    /// rounding is monotone), with <c>vmaxps(0, x)</c> and <c>vminps(maxq, ·)</c>, which return x when x is NaN, then round by adding
    /// and subtracting 2^23 (exact on [0, 2^23); gives +0 for ±0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> RoundClamp(Vector512<float> x, Vector512<float> maxq) =>
        (Avx512F.Min(maxq, Avx512F.Max(Vector512<float>.Zero, x)) + Vector512.Create(Magic)) - Vector512.Create(Magic);

    /// <summary>
    /// Copies 16 rows × <paramref name="len"/> columns (a multiple of 8) starting at <paramref name="source"/>[0] with row stride
    /// <paramref name="stride"/> into the column-major <paramref name="tile"/> (<c>tile[j·16 + row]</c>): two 8 × 8 transposes per
    /// 8 columns, halves joined into one 512-bit store per column.
    /// </summary>
    public static void LoadRows(ReadOnlySpan<float> source, int stride, int len, Span<float> tile)
    {
        if ((long)(15 * stride) + len > source.Length || len * Lanes > tile.Length || len % 8 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(len));
        }

        ref float s = ref MemoryMarshal.GetReference(source);
        ref float t = ref MemoryMarshal.GetReference(tile);
        for (int c = 0; c < len; c += 8)
        {
            ref float lo = ref Unsafe.Add(ref s, c);
            ref float hi = ref Unsafe.Add(ref s, (8 * stride) + c);
            var a0 = Vector256.LoadUnsafe(ref lo);
            var a1 = Vector256.LoadUnsafe(ref lo, (nuint)stride);
            var a2 = Vector256.LoadUnsafe(ref lo, (nuint)(2 * stride));
            var a3 = Vector256.LoadUnsafe(ref lo, (nuint)(3 * stride));
            var a4 = Vector256.LoadUnsafe(ref lo, (nuint)(4 * stride));
            var a5 = Vector256.LoadUnsafe(ref lo, (nuint)(5 * stride));
            var a6 = Vector256.LoadUnsafe(ref lo, (nuint)(6 * stride));
            var a7 = Vector256.LoadUnsafe(ref lo, (nuint)(7 * stride));
            DashQTileTranspose.Transpose(ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            var b0 = Vector256.LoadUnsafe(ref hi);
            var b1 = Vector256.LoadUnsafe(ref hi, (nuint)stride);
            var b2 = Vector256.LoadUnsafe(ref hi, (nuint)(2 * stride));
            var b3 = Vector256.LoadUnsafe(ref hi, (nuint)(3 * stride));
            var b4 = Vector256.LoadUnsafe(ref hi, (nuint)(4 * stride));
            var b5 = Vector256.LoadUnsafe(ref hi, (nuint)(5 * stride));
            var b6 = Vector256.LoadUnsafe(ref hi, (nuint)(6 * stride));
            var b7 = Vector256.LoadUnsafe(ref hi, (nuint)(7 * stride));
            DashQTileTranspose.Transpose(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            ref float o = ref Unsafe.Add(ref t, c * Lanes);
            Vector512.Create(a0, b0).StoreUnsafe(ref o);
            Vector512.Create(a1, b1).StoreUnsafe(ref o, 16);
            Vector512.Create(a2, b2).StoreUnsafe(ref o, 32);
            Vector512.Create(a3, b3).StoreUnsafe(ref o, 48);
            Vector512.Create(a4, b4).StoreUnsafe(ref o, 64);
            Vector512.Create(a5, b5).StoreUnsafe(ref o, 80);
            Vector512.Create(a6, b6).StoreUnsafe(ref o, 96);
            Vector512.Create(a7, b7).StoreUnsafe(ref o, 112);
        }
    }

    /// <summary>Solves one tile; the contract of <see cref="DashQGroupSolve.Solve"/> with 16 lanes (<see cref="Begin"/>, <see cref="Iterate"/>, <see cref="End"/>).</summary>
    public void Solve(ReadOnlySpan<float> tile, ReadOnlySpan<float> p, Span<float> codes, Span<float> centered, out Vector512<float> scale, out Vector512<float> zero, out Vector512<float> iterationsUsed, out Vector512<int> constant)
    {
        var state = Begin(tile, p, codes, centered);
        for (int t = 0; t < _iterations && !Iterate(ref state, t, tile, p, codes, centered); t++)
        {
        }

        End(ref state, tile, p, out scale, out zero);
        iterationsUsed = state.Used;
        constant = state.Constant;
    }

    /// <summary>The statistics that do not depend on the codes, the min–max start and the range search of one tile.</summary>
    public TileState Begin(ReadOnlySpan<float> tile, ReadOnlySpan<float> p, Span<float> codes, Span<float> centered)
    {
        int len = p.Length;
        if (len == 0 || centered.Length < len * Lanes || codes.Length < len * Lanes || tile.Length < len * Lanes)
        {
            throw new ArgumentOutOfRangeException(nameof(centered));
        }

        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref float q0 = ref MemoryMarshal.GetReference(codes);
        ref float c0 = ref MemoryMarshal.GetReference(centered);
        ref float p0 = ref MemoryMarshal.GetReference(p);
        var maxq = Vector512.Create(_maxCode);

        var min = Load(ref w0, 0);
        var max = min;
        var wbar = Vector512<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var w = Load(ref w0, j);
            min = MinOfNumbers(min, w); // the weights are finite (validated)
            max = MaxOfNumbers(max, w);
            wbar += Vector512.Create(Unsafe.Add(ref p0, j)) * w;
        }

        var cbar = Vector512<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var pc = Vector512.Create(Unsafe.Add(ref p0, j)) * (Load(ref w0, j) - wbar);
            Store(pc, ref c0, j);
            cbar += pc;
        }

        var constant = Vector512.Equals(max, min).AsInt32();
        var s = Vector512.ConditionalSelect(constant.AsSingle(), Vector512<float>.One, (max / maxq) - (min / maxq));
        var m = min;
        var floor = Vector512.Max(s * Vector512.Create(DashQGroupSolve.RelativeScaleFloor), Vector512.Create(DashQGroupSolve.SmallestNormal));
        if (_candidates > 0)
        {
            Search(ref w0, ref c0, ref p0, len, ref q0, min, wbar, cbar, floor, ref s, ref m);
        }

        return new TileState { S = s, M = m, Wbar = wbar, Cbar = cbar, Floor = floor, Constant = constant };
    }

    /// <summary>
    /// Iteration <paramref name="t"/> of the damped alternation (the caller runs t = 0, 1, … below <see cref="DashQOptions.Iterations"/>);
    /// true once every lane has stopped, after which further iterations would change nothing. Two tiles iterated in turn overlap:
    /// one tile's Step B sums (a chain of dependent adds) run while the other's code step executes.
    /// </summary>
    public bool Iterate(ref TileState state, int t, ReadOnlySpan<float> tile, ReadOnlySpan<float> p, Span<float> codes, ReadOnlySpan<float> centered)
    {
        int len = p.Length;
        if (len == 0 || centered.Length < len * Lanes || codes.Length < len * Lanes || tile.Length < len * Lanes)
        {
            throw new ArgumentOutOfRangeException(nameof(centered));
        }

        var s = state.S;
        var m = state.M;
        var done = state.Done;
        var (sStar, mStar, unchanged) = Step(ref MemoryMarshal.GetReference(tile), ref MemoryMarshal.GetReference(centered), ref MemoryMarshal.GetReference(p), len, ref MemoryMarshal.GetReference(codes), state.Wbar, state.Cbar, state.Floor, s, m, s);
        state.Used += Vector512.ConditionalSelect(done.AsSingle(), Vector512<float>.Zero, Vector512<float>.One);
        var stopNow = _earlyStop && t > 0 ? Vector512.AndNot(unchanged, done) : Vector512<int>.Zero;
        var alpha = Vector512.Create(_alpha);
        var beta = Vector512.Create(_oneMinusAlpha);
        var dampedS = (alpha * sStar) + (beta * s);
        var dampedM = (alpha * mStar) + (beta * m);
        var keep = done.AsSingle();
        state.S = Vector512.ConditionalSelect(keep, s, Vector512.ConditionalSelect(stopNow.AsSingle(), sStar, dampedS));
        state.M = Vector512.ConditionalSelect(keep, m, Vector512.ConditionalSelect(stopNow.AsSingle(), mStar, dampedM));
        done |= stopNow;
        state.Done = done;
        return Vector512.EqualsAll(done, Vector512<int>.AllBitsSet);
    }

    /// <summary>The zero z = −m/s, and with integer zeros its rounding and the scale refits; scale and zero before storage rounding.</summary>
    public void End(ref TileState state, ReadOnlySpan<float> tile, ReadOnlySpan<float> p, out Vector512<float> scale, out Vector512<float> zero)
    {
        int len = p.Length;
        if (tile.Length < len * Lanes)
        {
            throw new ArgumentOutOfRangeException(nameof(tile));
        }

        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref float p0 = ref MemoryMarshal.GetReference(p);
        var maxq = Vector512.Create(_maxCode);
        var s = state.S;
        var z = -state.M / s;
        if (_integerZero)
        {
            z = Vector512.Min(Vector512.Max(Vector512.Round(z), Vector512<float>.Zero), maxq);
            for (int k = 0; k < DashQGroupSolve.IntegerZeroRefits; k++)
            {
                var inv = Vector512<float>.One / s;
                var num = Vector512<float>.Zero;
                var den = Vector512<float>.Zero;
                for (int j = 0; j < len; j++)
                {
                    var w = Load(ref w0, j);
                    var q = RoundClamp((w * inv) + z, maxq);
                    var d = q - z;
                    var pd = Vector512.Create(Unsafe.Add(ref p0, j)) * d;
                    num += pd * w;
                    den += pd * d;
                }

                var refit = Vector512.Max(num / den, state.Floor);
                s = Vector512.ConditionalSelect(Vector512.GreaterThan(den, Vector512<float>.Zero), refit, s);
            }
        }

        state.S = s;
        scale = s;
        zero = z;
    }

    /// <summary>Final code step with the stored (s, z), codes as floats in the tile layout (<see cref="DashQGroupSolve.Finish"/>).</summary>
    public void Finish(ReadOnlySpan<float> tile, Span<float> codes, int len, Vector512<float> scale, Vector512<float> zero, Vector512<int> constant, Vector512<float> constantCode)
    {
        if (tile.Length < len * Lanes || codes.Length < len * Lanes)
        {
            throw new ArgumentOutOfRangeException(nameof(len));
        }

        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref float q0 = ref MemoryMarshal.GetReference(codes);
        var maxq = Vector512.Create(_maxCode);
        var inv = Vector512<float>.One / scale;
        for (int j = 0; j < len; j++)
        {
            var q = RoundClamp((Load(ref w0, j) * inv) + zero, maxq);
            Store(Vector512.ConditionalSelect(constant.AsSingle(), constantCode, q), ref q0, j);
        }
    }

    /// <summary>
    /// <see cref="Finish"/> with the codes written straight into the layer as bytes: lane k's codes go to
    /// <paramref name="codes"/>[k·<paramref name="stride"/> + j]. Needs <paramref name="len"/> a multiple of 32. Four codes are packed
    /// per int (codes ≤ 255), and two 8 × 8 transposes (low and high 8 lanes) turn the lanes into rows.
    /// </summary>
    public void FinishPacked(ReadOnlySpan<float> tile, int len, Vector512<float> scale, Vector512<float> zero, Vector512<int> constant, Vector512<float> constantCode, Span<byte> codes, int stride)
    {
        if ((long)(15 * stride) + len > codes.Length || len * Lanes > tile.Length || len % 32 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(len));
        }

        ref float w0 = ref MemoryMarshal.GetReference(tile);
        ref byte b0 = ref MemoryMarshal.GetReference(codes);
        var maxq = Vector512.Create(_maxCode);
        var inv = Vector512<float>.One / scale;
        for (int c = 0; c < len; c += 32)
        {
            ref float wc = ref Unsafe.Add(ref w0, c * Lanes);
            var a0 = Pack(ref wc, 0, inv, zero, maxq, constant, constantCode);
            var a1 = Pack(ref wc, 4, inv, zero, maxq, constant, constantCode);
            var a2 = Pack(ref wc, 8, inv, zero, maxq, constant, constantCode);
            var a3 = Pack(ref wc, 12, inv, zero, maxq, constant, constantCode);
            var a4 = Pack(ref wc, 16, inv, zero, maxq, constant, constantCode);
            var a5 = Pack(ref wc, 20, inv, zero, maxq, constant, constantCode);
            var a6 = Pack(ref wc, 24, inv, zero, maxq, constant, constantCode);
            var a7 = Pack(ref wc, 28, inv, zero, maxq, constant, constantCode);
            ref byte row = ref Unsafe.Add(ref b0, c);
            StoreRows(ref row, stride, a0.GetLower(), a1.GetLower(), a2.GetLower(), a3.GetLower(), a4.GetLower(), a5.GetLower(), a6.GetLower(), a7.GetLower());
            StoreRows(ref Unsafe.Add(ref row, 8 * stride), stride, a0.GetUpper(), a1.GetUpper(), a2.GetUpper(), a3.GetUpper(), a4.GetUpper(), a5.GetUpper(), a6.GetUpper(), a7.GetUpper());
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(ref byte row, int stride, Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3, Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        DashQTileTranspose.Transpose(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        r0.AsByte().StoreUnsafe(ref row);
        r1.AsByte().StoreUnsafe(ref row, (nuint)stride);
        r2.AsByte().StoreUnsafe(ref row, (nuint)(2 * stride));
        r3.AsByte().StoreUnsafe(ref row, (nuint)(3 * stride));
        r4.AsByte().StoreUnsafe(ref row, (nuint)(4 * stride));
        r5.AsByte().StoreUnsafe(ref row, (nuint)(5 * stride));
        r6.AsByte().StoreUnsafe(ref row, (nuint)(6 * stride));
        r7.AsByte().StoreUnsafe(ref row, (nuint)(7 * stride));
    }

    /// <summary>
    /// Step A for (s, m), then the minimiser (s*, m*) of Σ p (w − s q − m)² + λ s² for the new codes (Step B); c0 holds p·(w − w̄).
    /// The code step and the sums q̄ = Σ p q, Σ p (w − w̄) q share one pass. Unchanged: all-ones lanes where no code changed from
    /// the previous content of the code tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private (Vector512<float> Scale, Vector512<float> Offset, Vector512<int> Unchanged) Step(ref float w0, ref float c0, ref float p0, int len, ref float q0, Vector512<float> wbar, Vector512<float> cbar, Vector512<float> floor, Vector512<float> s, Vector512<float> m, Vector512<float> fallback)
    {
        var maxq = Vector512.Create(_maxCode);
        var inv = Vector512<float>.One / s;
        var unchanged = Vector512<float>.AllBitsSet;
        var qbar = Vector512<float>.Zero;
        var cq = Vector512<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var q = RoundClamp((Load(ref w0, j) - m) * inv, maxq);
            unchanged = Vector512.ConditionalSelect(Vector512.Equals(q, Load(ref q0, j)), unchanged, Vector512<float>.Zero);
            Store(q, ref q0, j);
            qbar += Vector512.Create(Unsafe.Add(ref p0, j)) * q;
            cq += Load(ref c0, j) * q;
        }

        var variance = Vector512<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var d = Load(ref q0, j) - qbar;
            variance += (Vector512.Create(Unsafe.Add(ref p0, j)) * d) * d;
        }

        var cov = cq - (cbar * qbar);
        var denominator = variance + Vector512.Create(_ridge);
        var sStar = Vector512.ConditionalSelect(Vector512.GreaterThan(denominator, Vector512<float>.Zero), cov / denominator, fallback);
        sStar = Vector512.Max(sStar, floor);
        var mStar = (wbar + cbar) - (sStar * qbar);
        return (sStar, mStar, unchanged.AsInt32());
    }

    /// <summary>Range candidates around min–max (see <see cref="DashQOptions.RangeCandidates"/>); replaces (s, m) with the best start.</summary>
    private void Search(ref float w0, ref float c0, ref float p0, int len, ref float q0, Vector512<float> min, Vector512<float> wbar, Vector512<float> cbar, Vector512<float> floor, ref Vector512<float> s, ref Vector512<float> m)
    {
        var maxq = Vector512.Create(_maxCode);
        var inv = Vector512<float>.One / s;
        for (int j = 0; j < len; j++)
        {
            Store(RoundClamp((Load(ref w0, j) - m) * inv, maxq), ref q0, j);
        }

        var best = Objective(ref w0, ref q0, ref p0, len, s, m);
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

            var candidate = s0 * Vector512.Create(_maxCode / levels);
            var (sStar, mStar, _) = Step(ref w0, ref c0, ref p0, len, ref q0, wbar, cbar, floor, candidate, min, candidate);
            var j = Objective(ref w0, ref q0, ref p0, len, sStar, mStar);
            var better = Vector512.LessThan(j, best);
            best = Vector512.ConditionalSelect(better, j, best);
            bestS = Vector512.ConditionalSelect(better, sStar, bestS);
            bestM = Vector512.ConditionalSelect(better, mStar, bestM);
        }

        s = bestS;
        m = bestM;
    }

    /// <summary>Σ p (w − s q − m)² + λ s² for the codes in the code tile.</summary>
    private Vector512<float> Objective(ref float w0, ref float q0, ref float p0, int len, Vector512<float> s, Vector512<float> m)
    {
        var sum = Vector512<float>.Zero;
        for (int j = 0; j < len; j++)
        {
            var e = Load(ref w0, j) - ((s * Load(ref q0, j)) + m);
            sum += (Vector512.Create(Unsafe.Add(ref p0, j)) * e) * e;
        }

        return sum + (Vector512.Create(_ridge) * (s * s));
    }

    /// <summary>Codes of columns j..j+3 (the <see cref="Finish"/> formula) packed little-endian into one int per lane, as float bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pack(ref float w, int j, Vector512<float> inv, Vector512<float> zero, Vector512<float> maxq, Vector512<int> constant, Vector512<float> constantCode)
    {
        // CodeBits leave the code in bits 0..7 and 2^23's exponent in bits 23..30, which the shifts by 8, 16 and 24 push out.
        var b0 = CodeBits(ref w, j, inv, zero, maxq, constant, constantCode);
        var b1 = Vector512.ShiftLeft(CodeBits(ref w, j + 1, inv, zero, maxq, constant, constantCode), 8);
        var b2 = Vector512.ShiftLeft(CodeBits(ref w, j + 2, inv, zero, maxq, constant, constantCode), 16);
        var b3 = Vector512.ShiftLeft(CodeBits(ref w, j + 3, inv, zero, maxq, constant, constantCode), 24);
        var low = Avx512F.TernaryLogic(b0, b1, Vector512.Create(0xFF), 0xEC); // (b0 & 0xFF) | b1
        return Avx512F.TernaryLogic(low, b2, b3, 0xFE).AsSingle();              // low | b2 | b3
    }

    /// <summary>
    /// The Finish code of one column as the bits of code + 2^23. clamp(x, 0, Q_max) by <c>vmaxps(x, 0)</c> maps NaN to 0, as the saturating
    /// float-to-int conversion of <see cref="DashQGroupSolve.FinishPacked"/> does; rounding after the clamp is exact (see <see cref="RoundClamp"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> CodeBits(ref float w, int column, Vector512<float> inv, Vector512<float> zero, Vector512<float> maxq, Vector512<int> constant, Vector512<float> constantCode)
    {
        var q = Avx512F.Min(Avx512F.Max((Load(ref w, column) * inv) + zero, Vector512<float>.Zero), maxq);
        return (Vector512.ConditionalSelect(constant.AsSingle(), constantCode, q) + Vector512.Create(Magic)).AsInt32();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load(ref float source, int column) => Vector512.LoadUnsafe(ref source, (nuint)(column * Lanes));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> value, ref float destination, int column) => value.StoreUnsafe(ref destination, (nuint)(column * Lanes));

    /// <summary>Per-lane state of one tile between <see cref="Begin"/>, <see cref="Iterate"/> and <see cref="End"/>.</summary>
    internal struct TileState
    {
        /// <summary>Scale s.</summary>
        public Vector512<float> S;

        /// <summary>Offset m = −s·z.</summary>
        public Vector512<float> M;

        /// <summary>w̄ = Σ p w.</summary>
        public Vector512<float> Wbar;

        /// <summary>Σ p (w − w̄) (rounding leaves it near, not at, 0).</summary>
        public Vector512<float> Cbar;

        /// <summary>Smallest scale.</summary>
        public Vector512<float> Floor;

        /// <summary>Iterations run.</summary>
        public Vector512<float> Used;

        /// <summary>All-ones lanes that have stopped early.</summary>
        public Vector512<int> Done;

        /// <summary>All-ones lanes whose group is constant.</summary>
        public Vector512<int> Constant;
    }
}
