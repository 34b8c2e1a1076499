namespace LowBitQuant;

/// <summary>An orthogonal n × n transform R applied to rows: x ← x·R, and its inverse x ← x·Rᵀ.</summary>
public interface IRotation
{
    /// <summary>The order n.</summary>
    int Size { get; }

    /// <summary>A persisted description of the construction (enough to rebuild R exactly).</summary>
    string Descriptor { get; }

    /// <summary>Replaces every <see cref="Size"/>-long row x of <paramref name="rows"/> by x·R.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Size"/>.</exception>
    void Apply(Span<float> rows);

    /// <summary>Replaces every <see cref="Size"/>-long row x of <paramref name="rows"/> by x·Rᵀ, the inverse of <see cref="Apply"/>.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Size"/>.</exception>
    void ApplyTranspose(Span<float> rows);
}
