using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBitQuant.Quantizers;

/// <summary>
/// 8 × 8 register transposes (AVX) that move DASH-Q tiles between the row-major layer and the column-major solver layout:
/// weights in (8 rows × len columns → <c>tile[j·8 + lane]</c>) and byte codes out (lanes → 8 rows of bytes). Pure data movement:
/// no arithmetic, so results equal the scalar loops they replace bit for bit.
/// </summary>
internal static class DashQTileTranspose
{
    /// <summary>True where the AVX paths run: AVX present and <see cref="Vector{T}"/> of float holds 8 lanes.</summary>
    public static bool IsSupported => Avx.IsSupported && Vector<float>.Count == 8;

    /// <summary>
    /// Copies 8 rows × <paramref name="len"/> columns (a multiple of 8) starting at <paramref name="source"/>[0] with row stride
    /// <paramref name="stride"/> into the column-major <paramref name="tile"/> (<c>tile[j·8 + row]</c>).
    /// </summary>
    public static void LoadRows(ReadOnlySpan<float> source, int stride, int len, Span<float> tile)
    {
        if ((long)(7 * stride) + len > source.Length || len * 8 > tile.Length || len % 8 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(len));
        }

        ref float s = ref MemoryMarshal.GetReference(source);
        ref float t = ref MemoryMarshal.GetReference(tile);
        for (int c = 0; c < len; c += 8)
        {
            var r0 = Vector256.LoadUnsafe(ref s, (nuint)c);
            var r1 = Vector256.LoadUnsafe(ref s, (nuint)(stride + c));
            var r2 = Vector256.LoadUnsafe(ref s, (nuint)((2 * stride) + c));
            var r3 = Vector256.LoadUnsafe(ref s, (nuint)((3 * stride) + c));
            var r4 = Vector256.LoadUnsafe(ref s, (nuint)((4 * stride) + c));
            var r5 = Vector256.LoadUnsafe(ref s, (nuint)((5 * stride) + c));
            var r6 = Vector256.LoadUnsafe(ref s, (nuint)((6 * stride) + c));
            var r7 = Vector256.LoadUnsafe(ref s, (nuint)((7 * stride) + c));
            Transpose(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
            nuint o = (nuint)(c * 8);
            r0.StoreUnsafe(ref t, o);
            r1.StoreUnsafe(ref t, o + 8);
            r2.StoreUnsafe(ref t, o + 16);
            r3.StoreUnsafe(ref t, o + 24);
            r4.StoreUnsafe(ref t, o + 32);
            r5.StoreUnsafe(ref t, o + 40);
            r6.StoreUnsafe(ref t, o + 48);
            r7.StoreUnsafe(ref t, o + 56);
        }
    }

    /// <summary>
    /// Transposes 8 vectors of 8 lanes in registers (<c>out[i][k] = in[k][i]</c>); bit patterns are moved, never converted.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose(
        ref Vector256<float> r0,
        ref Vector256<float> r1,
        ref Vector256<float> r2,
        ref Vector256<float> r3,
        ref Vector256<float> r4,
        ref Vector256<float> r5,
        ref Vector256<float> r6,
        ref Vector256<float> r7)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20);
        r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20);
        r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31);
        r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31);
        r7 = Avx.Permute2x128(u3, u7, 0x31);
    }
}
