using System.Runtime.Intrinsics;

namespace LowBitQuant.Internal;

/// <summary>Vectorised checks used at public boundaries.</summary>
internal static class Validation
{
    /// <summary>Index of the first NaN or ±Inf in <paramref name="values"/>, or −1 when all are finite.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // x − x is 0 for finite x and NaN for NaN or ±Inf; NaN ≠ NaN flags it.
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
            {
                var v = Vector256.Create(values.Slice(i, Vector256<float>.Count));
                var d = v - v;
                if (!Vector256.EqualsAll(d, d))
                {
                    break;
                }
            }
        }

        for (; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>True when every element is finite.</summary>
    public static bool AllFinite(ReadOnlySpan<float> values) => IndexOfNonFinite(values) < 0;
}
