namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>Float32 ⇄ 16-bit scale patterns, round to nearest even.</summary>
internal static class ScaleConversion
{
    /// <summary>The 16-bit pattern of <paramref name="value"/> in <paramref name="type"/>, rounded to nearest even.</summary>
    public static ushort Encode(float value, ScaleDataType type)
    {
        if (type == ScaleDataType.Float16)
        {
            return BitConverter.HalfToUInt16Bits((Half)value);
        }

        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        // Round to nearest even on the 16 discarded bits; a carry into the exponent is the correct rounding (up to ∞).
        uint rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(rounded >> 16);
    }

    /// <summary>The value of the 16-bit pattern <paramref name="bits"/> in <paramref name="type"/>.</summary>
    public static float Decode(ushort bits, ScaleDataType type) =>
        type == ScaleDataType.Float16
            ? (float)BitConverter.UInt16BitsToHalf(bits)
            : BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>The smallest positive normal value of <paramref name="type"/>.</summary>
    public static float SmallestNormal(ScaleDataType type) =>
        MathF.ScaleB(1f, type == ScaleDataType.Float16 ? -14 : -126);

    /// <summary>The safetensors dtype name.</summary>
    public static string SafetensorsName(ScaleDataType type) => type == ScaleDataType.Float16 ? "F16" : "BF16";
}
