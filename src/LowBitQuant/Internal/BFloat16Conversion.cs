using System.Buffers.Binary;

namespace LowBitQuant.Internal;

/// <summary>bfloat16 ↔ float32: bfloat16 is the upper 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa bits).</summary>
internal static class BFloat16Conversion
{
    /// <summary>Rounds to the nearest bfloat16, ties to even; NaN stays NaN (quiet, sign kept); overflow goes to ±Inf.</summary>
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            // Truncation could clear every mantissa bit (turning NaN into Inf); set the quiet bit instead.
            return (ushort)((bits >> 16) | 0x0040);
        }

        // Adding 0x7FFF plus the lowest kept bit rounds half to even; a carry into the exponent is correct
        // (it rounds up to the next binade, or to Inf past the largest finite value).
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Exact widening of a bfloat16 to float32.</summary>
    public static float ToSingle(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Converts little-endian bfloat16 bytes (2 per element) to floats.</summary>
    public static void ToSingle(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * i, 2)));
        }
    }

    /// <summary>Converts floats to little-endian bfloat16 bytes (2 per element).</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<byte> destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination.Slice(2 * i, 2), FromSingle(source[i]));
        }
    }
}
