using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// The quantization grid of a layer: bit width, group size and symmetry. Validated once on construction;
/// an invalid value throws and is never clamped.
/// </summary>
/// <remarks>
/// A weight w in group g of a row is stored as a code q ∈ [0, 2^b − 1] and reconstructed as
/// ŵ = s_g · (q − z_g). Symmetric grids fix z = 2^(b−1); asymmetric grids fit z per group.
/// </remarks>
public sealed record QuantizationScheme
{
    /// <summary>Smallest supported bit width.</summary>
    public const int MinBits = 2;

    /// <summary>Largest supported bit width.</summary>
    public const int MaxBits = 8;

    /// <summary>Creates a scheme.</summary>
    /// <param name="bits">Bits per weight, 2 to 8.</param>
    /// <param name="groupSize">Consecutive input columns sharing one (scale, zero); <see langword="null"/> for one group per row.</param>
    /// <param name="symmetric">Whether the zero point is fixed at 2^(bits−1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is outside [2, 8] or <paramref name="groupSize"/> is not positive.</exception>
    public QuantizationScheme(int bits, int? groupSize = 128, bool symmetric = false)
    {
        if (bits is < MinBits or > MaxBits)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(bits), bits, $"Bit width must be between {MinBits} and {MaxBits}.");
        }

        if (groupSize is <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(groupSize), groupSize, "Group size must be positive; use null for one group per row.");
        }

        Bits = bits;
        GroupSize = groupSize;
        Symmetric = symmetric;
    }

    /// <summary>Bits per weight.</summary>
    public int Bits { get; }

    /// <summary>Columns per group, or <see langword="null"/> for one group spanning the whole row.</summary>
    public int? GroupSize { get; }

    /// <summary>Whether the zero point is fixed at 2^(bits−1).</summary>
    public bool Symmetric { get; }

    /// <summary>Largest code, 2^bits − 1.</summary>
    public int MaxCode => (1 << Bits) - 1;

    /// <summary>The zero point of a symmetric grid, 2^(bits−1).</summary>
    public int SymmetricZero => 1 << (Bits - 1);

    /// <summary>The group width used for a row of <paramref name="columns"/> weights.</summary>
    public int GroupWidth(int columns) => GroupSize ?? Math.Max(columns, 1);

    /// <summary>Number of groups per row, ceil(columns / group width); the last group may be partial.</summary>
    public int GroupCount(int columns) => columns == 0 ? 0 : (columns + GroupWidth(columns) - 1) / GroupWidth(columns);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Bits}-bit, {(GroupSize is int g ? $"group {g}" : "per row")}, {(Symmetric ? "symmetric" : "asymmetric")}";
}
