namespace LowBitQuant.Formats.Safetensors;

/// <summary>The safetensors dtype whose elements are stored exactly as the .NET type <typeparamref name="T"/>, if any.</summary>
internal static class SafetensorsElementType<T>
    where T : unmanaged
{
    public static readonly SafetensorsDType? DType =
        typeof(T) == typeof(bool) ? SafetensorsDType.Bool
        : typeof(T) == typeof(byte) ? SafetensorsDType.U8
        : typeof(T) == typeof(sbyte) ? SafetensorsDType.I8
        : typeof(T) == typeof(short) ? SafetensorsDType.I16
        : typeof(T) == typeof(ushort) ? SafetensorsDType.U16
        : typeof(T) == typeof(Half) ? SafetensorsDType.F16
        : typeof(T) == typeof(int) ? SafetensorsDType.I32
        : typeof(T) == typeof(uint) ? SafetensorsDType.U32
        : typeof(T) == typeof(float) ? SafetensorsDType.F32
        : typeof(T) == typeof(long) ? SafetensorsDType.I64
        : typeof(T) == typeof(ulong) ? SafetensorsDType.U64
        : typeof(T) == typeof(double) ? SafetensorsDType.F64
        : null;
}
