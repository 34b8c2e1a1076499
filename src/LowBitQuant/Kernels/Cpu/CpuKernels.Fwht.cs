using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LowBitQuant.Internal;

namespace LowBitQuant.Kernels.Cpu;

internal static partial class CpuKernels
{
    /// <summary>Rows × length below which <see cref="FwhtRows"/> stays on the calling thread.</summary>
    private const int FwhtParallelThreshold = 1 << 15;

    /// <summary>In-place unnormalised fast Walsh–Hadamard transform x ← H_{2^m}·x (Sylvester order); length a power of two.</summary>
    /// <exception cref="ArgumentException">The length is not a power of two.</exception>
    public static void Fwht(Span<float> x) => Fwht(x, VectorWidths.Preferred);

    /// <summary>Applies <see cref="Fwht(Span{float})"/> to every <paramref name="length"/>-long row, in parallel over rows.</summary>
    /// <exception cref="ArgumentException"><paramref name="length"/> is not a power of two or does not divide the span.</exception>
    public static unsafe void FwhtRows(Span<float> rows, int length)
    {
        if (length <= 0 || !BitOperations.IsPow2(length))
        {
            ThrowHelper.ThrowArgument(nameof(length), $"FWHT length {length} is not a power of two.");
        }

        if (rows.Length % length != 0)
        {
            ThrowHelper.ThrowArgument(nameof(rows), $"Length {rows.Length} is not a multiple of the FWHT length {length}.");
        }

        int count = rows.Length / length;
        if (rows.Length < FwhtParallelThreshold || count == 1)
        {
            for (int r = 0; r < count; r++)
            {
                Fwht(rows.Slice(r * length, length));
            }

            return;
        }

        fixed (float* p = rows)
        {
            nint address = (nint)p;
            int chunk = Math.Max(1, FwhtParallelThreshold / length);
            Parallel.For(0, (count + chunk - 1) / chunk, c =>
            {
                int end = Math.Min(count, (c + 1) * chunk);
                for (int r = c * chunk; r < end; r++)
                {
                    Fwht(new Span<float>((float*)address + ((long)r * length), length));
                }
            });
        }
    }

    /// <summary>The FWHT at a forced vector width: a butterfly pass runs with the widest vector whose lane count ≤ the stride h.</summary>
    internal static void Fwht(Span<float> x, VectorWidth width)
    {
        int n = x.Length;
        if (n == 0 || !BitOperations.IsPow2(n))
        {
            ThrowHelper.ThrowArgument(nameof(x), $"FWHT length {n} is not a power of two.");
        }

        ref float r = ref MemoryMarshal.GetReference(x);
        for (int h = 1; h < n; h <<= 1)
        {
            if (width >= VectorWidth.V512 && h >= Vector512<float>.Count)
            {
                Pass512(ref r, n, h);
            }
            else if (width >= VectorWidth.V256 && h >= Vector256<float>.Count)
            {
                Pass256(ref r, n, h);
            }
            else if (width >= VectorWidth.V128 && h >= Vector128<float>.Count)
            {
                Pass128(ref r, n, h);
            }
            else
            {
                PassScalar(ref r, n, h);
            }
        }
    }

    private static void PassScalar(ref float r, int n, int h)
    {
        for (int i = 0; i < n; i += 2 * h)
        {
            for (int j = i; j < i + h; j++)
            {
                float a = Unsafe.Add(ref r, j), b = Unsafe.Add(ref r, j + h);
                Unsafe.Add(ref r, j) = a + b;
                Unsafe.Add(ref r, j + h) = a - b;
            }
        }
    }

    private static void Pass128(ref float r, int n, int h)
    {
        int w = Vector128<float>.Count;
        for (int i = 0; i < n; i += 2 * h)
        {
            for (int j = i; j < i + h; j += w)
            {
                var a = Vector128.LoadUnsafe(ref r, (nuint)j);
                var b = Vector128.LoadUnsafe(ref r, (nuint)(j + h));
                (a + b).StoreUnsafe(ref r, (nuint)j);
                (a - b).StoreUnsafe(ref r, (nuint)(j + h));
            }
        }
    }

    private static void Pass256(ref float r, int n, int h)
    {
        int w = Vector256<float>.Count;
        for (int i = 0; i < n; i += 2 * h)
        {
            for (int j = i; j < i + h; j += w)
            {
                var a = Vector256.LoadUnsafe(ref r, (nuint)j);
                var b = Vector256.LoadUnsafe(ref r, (nuint)(j + h));
                (a + b).StoreUnsafe(ref r, (nuint)j);
                (a - b).StoreUnsafe(ref r, (nuint)(j + h));
            }
        }
    }

    private static void Pass512(ref float r, int n, int h)
    {
        int w = Vector512<float>.Count;
        for (int i = 0; i < n; i += 2 * h)
        {
            for (int j = i; j < i + h; j += w)
            {
                var a = Vector512.LoadUnsafe(ref r, (nuint)j);
                var b = Vector512.LoadUnsafe(ref r, (nuint)(j + h));
                (a + b).StoreUnsafe(ref r, (nuint)j);
                (a - b).StoreUnsafe(ref r, (nuint)(j + h));
            }
        }
    }
}
