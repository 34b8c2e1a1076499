using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LowBitQuant.Internal;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>SIMD CPU kernels. One driver per kernel shape; operators hold the math.</summary>
internal static partial class CpuKernels
{
    /// <summary>Quantizes <paramref name="x"/> on one affine grid: codes[i] = clamp(round(x[i] / s) + z, 0, maxq).</summary>
    /// <exception cref="ArgumentException"><paramref name="codes"/> is shorter than <paramref name="x"/>.</exception>
    public static void QuantizeAffine(ReadOnlySpan<float> x, float scale, float zero, int maxCode, Span<byte> codes) =>
        QuantizeAffine(x, scale, zero, maxCode, codes, VectorWidths.Preferred);

    /// <summary>Dequantizes codes on one affine grid: destination[i] = s · (codes[i] − z).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="codes"/>.</exception>
    public static void DequantizeAffine(ReadOnlySpan<byte> codes, float scale, float zero, Span<float> destination) =>
        DequantizeAffine(codes, scale, zero, destination, VectorWidths.Preferred);

    internal static void QuantizeAffine(ReadOnlySpan<float> x, float scale, float zero, int maxCode, Span<byte> codes, VectorWidth width)
    {
        if (codes.Length < x.Length)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(codes), x.Length, codes.Length);
        }

        var op = new AffineQuantizeOperator(scale, zero, maxCode);
        ref float src = ref MemoryMarshal.GetReference(x);
        ref byte dst = ref MemoryMarshal.GetReference(codes);
        int n = x.Length, i = 0;

        // Each width handles whole blocks, then one overlapping block ending at n (element-wise, so recomputing is harmless);
        // lengths shorter than a block fall through to the next width.
        if (width >= VectorWidth.V512 && n >= 64)
        {
            for (; i <= n - 64; i += 64)
            {
                Quantize64(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Quantize64(ref src, ref dst, n - 64, op);
            }

            return;
        }

        if (width >= VectorWidth.V256 && n >= 32)
        {
            for (; i <= n - 32; i += 32)
            {
                Quantize32(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Quantize32(ref src, ref dst, n - 32, op);
            }

            return;
        }

        if (width >= VectorWidth.V128 && n >= 16)
        {
            for (; i <= n - 16; i += 16)
            {
                Quantize16(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Quantize16(ref src, ref dst, n - 16, op);
            }

            return;
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = (byte)op.Invoke(Unsafe.Add(ref src, i));
        }
    }

    internal static void DequantizeAffine(ReadOnlySpan<byte> codes, float scale, float zero, Span<float> destination, VectorWidth width)
    {
        if (destination.Length < codes.Length)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(destination), codes.Length, destination.Length);
        }

        var op = new AffineDequantizeOperator(scale, zero);
        ref byte src = ref MemoryMarshal.GetReference(codes);
        ref float dst = ref MemoryMarshal.GetReference(destination);
        int n = codes.Length, i = 0;
        if (width >= VectorWidth.V512 && n >= 64)
        {
            for (; i <= n - 64; i += 64)
            {
                Dequantize64(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Dequantize64(ref src, ref dst, n - 64, op);
            }

            return;
        }

        if (width >= VectorWidth.V256 && n >= 32)
        {
            for (; i <= n - 32; i += 32)
            {
                Dequantize32(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Dequantize32(ref src, ref dst, n - 32, op);
            }

            return;
        }

        if (width >= VectorWidth.V128 && n >= 16)
        {
            for (; i <= n - 16; i += 16)
            {
                Dequantize16(ref src, ref dst, i, op);
            }

            if (i < n)
            {
                Dequantize16(ref src, ref dst, n - 16, op);
            }

            return;
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = op.Invoke(Unsafe.Add(ref src, i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quantize64(ref float src, ref byte dst, int i, in AffineQuantizeOperator op)
    {
        nuint at = (nuint)i;
        var a = Vector512.ConvertToInt32(op.Invoke(Vector512.LoadUnsafe(ref src, at)));
        var b = Vector512.ConvertToInt32(op.Invoke(Vector512.LoadUnsafe(ref src, at + 16)));
        var c = Vector512.ConvertToInt32(op.Invoke(Vector512.LoadUnsafe(ref src, at + 32)));
        var d = Vector512.ConvertToInt32(op.Invoke(Vector512.LoadUnsafe(ref src, at + 48)));
        Vector512.Narrow(Vector512.Narrow(a, b).AsUInt16(), Vector512.Narrow(c, d).AsUInt16()).StoreUnsafe(ref dst, at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quantize32(ref float src, ref byte dst, int i, in AffineQuantizeOperator op)
    {
        nuint at = (nuint)i;
        var a = Vector256.ConvertToInt32(op.Invoke(Vector256.LoadUnsafe(ref src, at)));
        var b = Vector256.ConvertToInt32(op.Invoke(Vector256.LoadUnsafe(ref src, at + 8)));
        var c = Vector256.ConvertToInt32(op.Invoke(Vector256.LoadUnsafe(ref src, at + 16)));
        var d = Vector256.ConvertToInt32(op.Invoke(Vector256.LoadUnsafe(ref src, at + 24)));
        Vector256.Narrow(Vector256.Narrow(a, b).AsUInt16(), Vector256.Narrow(c, d).AsUInt16()).StoreUnsafe(ref dst, at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quantize16(ref float src, ref byte dst, int i, in AffineQuantizeOperator op)
    {
        nuint at = (nuint)i;
        var a = Vector128.ConvertToInt32(op.Invoke(Vector128.LoadUnsafe(ref src, at)));
        var b = Vector128.ConvertToInt32(op.Invoke(Vector128.LoadUnsafe(ref src, at + 4)));
        var c = Vector128.ConvertToInt32(op.Invoke(Vector128.LoadUnsafe(ref src, at + 8)));
        var d = Vector128.ConvertToInt32(op.Invoke(Vector128.LoadUnsafe(ref src, at + 12)));
        Vector128.Narrow(Vector128.Narrow(a, b).AsUInt16(), Vector128.Narrow(c, d).AsUInt16()).StoreUnsafe(ref dst, at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dequantize64(ref byte src, ref float dst, int i, in AffineDequantizeOperator op)
    {
        nuint at = (nuint)i;
        var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref src, at));
        var (a, b) = Vector512.Widen(lo);
        var (c, d) = Vector512.Widen(hi);
        op.Invoke(Vector512.ConvertToSingle(a.AsInt32())).StoreUnsafe(ref dst, at);
        op.Invoke(Vector512.ConvertToSingle(b.AsInt32())).StoreUnsafe(ref dst, at + 16);
        op.Invoke(Vector512.ConvertToSingle(c.AsInt32())).StoreUnsafe(ref dst, at + 32);
        op.Invoke(Vector512.ConvertToSingle(d.AsInt32())).StoreUnsafe(ref dst, at + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dequantize32(ref byte src, ref float dst, int i, in AffineDequantizeOperator op)
    {
        nuint at = (nuint)i;
        var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref src, at));
        var (a, b) = Vector256.Widen(lo);
        var (c, d) = Vector256.Widen(hi);
        op.Invoke(Vector256.ConvertToSingle(a.AsInt32())).StoreUnsafe(ref dst, at);
        op.Invoke(Vector256.ConvertToSingle(b.AsInt32())).StoreUnsafe(ref dst, at + 8);
        op.Invoke(Vector256.ConvertToSingle(c.AsInt32())).StoreUnsafe(ref dst, at + 16);
        op.Invoke(Vector256.ConvertToSingle(d.AsInt32())).StoreUnsafe(ref dst, at + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dequantize16(ref byte src, ref float dst, int i, in AffineDequantizeOperator op)
    {
        nuint at = (nuint)i;
        var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref src, at));
        var (a, b) = Vector128.Widen(lo);
        var (c, d) = Vector128.Widen(hi);
        op.Invoke(Vector128.ConvertToSingle(a.AsInt32())).StoreUnsafe(ref dst, at);
        op.Invoke(Vector128.ConvertToSingle(b.AsInt32())).StoreUnsafe(ref dst, at + 4);
        op.Invoke(Vector128.ConvertToSingle(c.AsInt32())).StoreUnsafe(ref dst, at + 8);
        op.Invoke(Vector128.ConvertToSingle(d.AsInt32())).StoreUnsafe(ref dst, at + 12);
    }
}
