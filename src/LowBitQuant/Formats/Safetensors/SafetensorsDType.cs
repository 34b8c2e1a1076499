namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// The element types a safetensors header can declare (formats/safetensors.md §2). The name written in a file
/// is given by <see cref="SafetensorsDTypeExtensions.GetName"/>, its size by <see cref="SafetensorsDTypeExtensions.GetBitSize"/>.
/// </summary>
public enum SafetensorsDType
{
    /// <summary><c>F4</c>: 4-bit float (E2M1), two elements per byte.</summary>
    F4,

    /// <summary><c>F6_E2M3</c>: 6-bit float, 2 exponent and 3 mantissa bits.</summary>
    F6E2M3,

    /// <summary><c>F6_E3M2</c>: 6-bit float, 3 exponent and 2 mantissa bits.</summary>
    F6E3M2,

    /// <summary><c>BOOL</c>: one byte per element, zero meaning false.</summary>
    Bool,

    /// <summary><c>U8</c>: unsigned 8-bit integer.</summary>
    U8,

    /// <summary><c>I8</c>: signed 8-bit integer.</summary>
    I8,

    /// <summary><c>F8_E5M2</c>: 8-bit float, 5 exponent and 2 mantissa bits.</summary>
    F8E5M2,

    /// <summary><c>F8_E4M3</c>: 8-bit float, 4 exponent and 3 mantissa bits.</summary>
    F8E4M3,

    /// <summary><c>F8_E8M0</c>: 8-bit power-of-two scale (exponent only).</summary>
    F8E8M0,

    /// <summary><c>F8_E4M3FNUZ</c>: 8-bit float E4M3, finite, unsigned zero.</summary>
    F8E4M3Fnuz,

    /// <summary><c>F8_E5M2FNUZ</c>: 8-bit float E5M2, finite, unsigned zero.</summary>
    F8E5M2Fnuz,

    /// <summary><c>I16</c>: signed 16-bit integer.</summary>
    I16,

    /// <summary><c>U16</c>: unsigned 16-bit integer.</summary>
    U16,

    /// <summary><c>F16</c>: IEEE 754 binary16.</summary>
    F16,

    /// <summary><c>BF16</c>: bfloat16, the upper half of an IEEE 754 binary32.</summary>
    BF16,

    /// <summary><c>I32</c>: signed 32-bit integer.</summary>
    I32,

    /// <summary><c>U32</c>: unsigned 32-bit integer.</summary>
    U32,

    /// <summary><c>F32</c>: IEEE 754 binary32.</summary>
    F32,

    /// <summary><c>I64</c>: signed 64-bit integer.</summary>
    I64,

    /// <summary><c>U64</c>: unsigned 64-bit integer.</summary>
    U64,

    /// <summary><c>F64</c>: IEEE 754 binary64.</summary>
    F64,

    /// <summary><c>C64</c>: complex number of two binary32 values (real, imaginary).</summary>
    C64,
}
