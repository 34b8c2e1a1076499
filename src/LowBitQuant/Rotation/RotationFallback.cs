namespace LowBitQuant;

/// <summary>What <see cref="RotationFactory"/> builds when no Hadamard construction exists for a size.</summary>
public enum RotationFallback
{
    /// <summary>No fallback: an unsupported size is an error.</summary>
    None,

    /// <summary>Block-diagonal Hadamard over the largest constructible block dividing the size.</summary>
    BlockHadamard,

    /// <summary>A dense seeded random orthogonal matrix (sizes up to <see cref="RandomOrthogonalRotation.MaxSize"/>).</summary>
    RandomOrthogonal,
}
