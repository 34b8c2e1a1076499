using System.Diagnostics.CodeAnalysis;
using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Safetensors;

/// <summary>Names, sizes and alignments of <see cref="SafetensorsDType"/> values, as the safetensors format defines them.</summary>
public static class SafetensorsDTypeExtensions
{
    // Indexed by the enum value; the single table both directions are read from.
    private static readonly (string Name, int Bits)[] Table =
    [
        ("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6),
        ("BOOL", 8), ("U8", 8), ("I8", 8),
        ("F8_E5M2", 8), ("F8_E4M3", 8), ("F8_E8M0", 8), ("F8_E4M3FNUZ", 8), ("F8_E5M2FNUZ", 8),
        ("I16", 16), ("U16", 16), ("F16", 16), ("BF16", 16),
        ("I32", 32), ("U32", 32), ("F32", 32),
        ("I64", 64), ("U64", 64), ("F64", 64), ("C64", 64),
    ];

    private static readonly Dictionary<string, SafetensorsDType> ByName =
        Enumerable.Range(0, Table.Length).ToDictionary(i => Table[i].Name, i => (SafetensorsDType)i, StringComparer.Ordinal);

    /// <summary>The name of <paramref name="dtype"/> in a safetensors header (e.g. <c>"F8_E4M3"</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    public static string GetName(this SafetensorsDType dtype) => Entry(dtype).Name;

    /// <summary>Bits per element: 4, 6, 8, 16, 32 or 64.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    public static int GetBitSize(this SafetensorsDType dtype) => Entry(dtype).Bits;

    /// <summary>
    /// Byte alignment of one element: the element size in bytes, and 1 for sub-byte types. Writers order tensors by
    /// descending alignment so that every tensor starts at an offset aligned to its element size.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a defined value.</exception>
    public static int GetAlignment(this SafetensorsDType dtype) => Math.Max(1, Entry(dtype).Bits / 8);

    /// <summary>Parses a header dtype name. Names are case-sensitive, exactly as the format spells them.</summary>
    /// <param name="name">A name such as <c>"BF16"</c> or <c>"F6_E2M3"</c>.</param>
    /// <param name="dtype">The parsed value, when the result is <see langword="true"/>.</param>
    /// <returns>Whether <paramref name="name"/> is a known dtype name.</returns>
    public static bool TryParse([NotNullWhen(true)] string? name, out SafetensorsDType dtype)
    {
        dtype = default;
        return name is not null && ByName.TryGetValue(name, out dtype);
    }

    /// <summary>Parses a header dtype name.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a known dtype name.</exception>
    public static SafetensorsDType Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!TryParse(name, out SafetensorsDType dtype))
        {
            ThrowHelper.ThrowArgument(nameof(name), $"'{name}' is not a safetensors dtype name.");
        }

        return dtype;
    }

    private static (string Name, int Bits) Entry(SafetensorsDType dtype)
    {
        if ((uint)dtype >= (uint)Table.Length)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(dtype), dtype, "Not a defined safetensors dtype.");
        }

        return Table[(int)dtype];
    }
}
