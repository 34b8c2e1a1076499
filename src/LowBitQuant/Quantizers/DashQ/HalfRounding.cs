using System.Numerics;
using System.Runtime.Intrinsics;

namespace LowBitQuant.Quantizers;

/// <summary>
/// <c>(float)(Half)x</c> for every lane at once, by integer and float operations that give the same bits for finite x
/// (round to nearest even onto the float16 grid; ±Inf past 65504) and a non-finite value for non-finite x.
/// </summary>
internal static class HalfRounding
{
    private const int AbsMask = 0x7FFF_FFFF;
    private const int ExponentMask = 0x7F80_0000;
    private const int SmallestNormalHalfBits = 0x3880_0000; // 2^-14
    private const int LargestHalfBits = 0x477F_E000;        // 65504

    /// <summary>Rounds each lane to the nearest float16 value (ties to even) and back to float32.</summary>
    public static Vector<float> Round(Vector<float> x)
    {
        var bits = Vector.AsVectorInt32(x);
        var abs = bits & new Vector<int>(AbsMask);
        var sign = bits ^ abs;

        // Normal float16 range: drop 13 mantissa bits, round to nearest even (a carry moves into the exponent, as it should).
        var lsb = Vector.ShiftRightLogical(abs, 13) & Vector<int>.One;
        var normal = (abs + new Vector<int>(0xFFF) + lsb) & new Vector<int>(~0x1FFF);

        // Subnormal float16 range (|x| < 2^-14): the grid is multiples of 2^-24, the float32 ulp on [0.5, 1), so adding and
        // subtracting 0.5 rounds to it exactly (ties to even).
        var half = new Vector<float>(0.5f);
        var subnormal = Vector.AsVectorInt32((Vector.AsVectorSingle(abs) + half) - half);

        var r = Vector.ConditionalSelect(Vector.LessThan(abs, new Vector<int>(SmallestNormalHalfBits)), subnormal, normal);
        r = Vector.ConditionalSelect(Vector.GreaterThan(r, new Vector<int>(LargestHalfBits)), new Vector<int>(ExponentMask), r);

        // Inf and NaN inputs stay as they are (non-finite either way).
        r = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(abs, new Vector<int>(ExponentMask)), abs, r);
        return Vector.AsVectorSingle(r | sign);
    }

    /// <summary>All-ones lanes where x is finite.</summary>
    public static Vector<int> IsFinite(Vector<float> x) =>
        Vector.LessThan(Vector.AsVectorInt32(x) & new Vector<int>(AbsMask), new Vector<int>(ExponentMask));

    /// <summary><see cref="Round(Vector{float})"/> for 16 lanes (same operations).</summary>
    public static Vector512<float> Round(Vector512<float> x)
    {
        var bits = x.AsInt32();
        var abs = bits & Vector512.Create(AbsMask);
        var sign = bits ^ abs;
        var lsb = Vector512.ShiftRightLogical(abs, 13) & Vector512<int>.One;
        var normal = (abs + Vector512.Create(0xFFF) + lsb) & Vector512.Create(~0x1FFF);
        var half = Vector512.Create(0.5f);
        var subnormal = ((abs.AsSingle() + half) - half).AsInt32();
        var r = Vector512.ConditionalSelect(Vector512.LessThan(abs, Vector512.Create(SmallestNormalHalfBits)), subnormal, normal);
        r = Vector512.ConditionalSelect(Vector512.GreaterThan(r, Vector512.Create(LargestHalfBits)), Vector512.Create(ExponentMask), r);
        r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(abs, Vector512.Create(ExponentMask)), abs, r);
        return (r | sign).AsSingle();
    }

    /// <summary>All-ones lanes where x is finite (16 lanes).</summary>
    public static Vector512<int> IsFinite(Vector512<float> x) =>
        Vector512.LessThan(x.AsInt32() & Vector512.Create(AbsMask), Vector512.Create(ExponentMask));
}
