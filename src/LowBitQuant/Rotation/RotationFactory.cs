namespace LowBitQuant;

/// <summary>Chooses a rotation for a size: a randomised Hadamard when one can be built, otherwise the requested fallback, always reported.</summary>
public static class RotationFactory
{
    /// <summary>Builds the rotation for <paramref name="size"/>.</summary>
    /// <param name="size">n.</param>
    /// <param name="seed">Seed of the signs (or of the Gaussian matrix).</param>
    /// <param name="fallback">What to build when no Hadamard construction exists.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="NotSupportedException">The size is unsupported and <paramref name="fallback"/> is <see cref="RotationFallback.None"/>, or the fallback cannot be built for it.</exception>
    public static RotationChoice Create(int size, int seed, RotationFallback fallback = RotationFallback.BlockHadamard)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (HadamardRotation.IsSupported(size))
        {
            var h = HadamardRotation.Create(size, seed);
            return new RotationChoice(h, false, $"Hadamard rotation ({h.CoreKind}, K = {h.CoreOrder})");
        }

        switch (fallback)
        {
            case RotationFallback.BlockHadamard:
                var block = new BlockHadamardRotation(size, seed);
                return new RotationChoice(block, true, $"no Hadamard construction for {size}: block-diagonal Hadamard fallback, {size / block.BlockSize} blocks of {block.BlockSize}");
            case RotationFallback.RandomOrthogonal:
                if (size > RandomOrthogonalRotation.MaxSize)
                {
                    throw new NotSupportedException($"No Hadamard construction for size {size}, and a dense random orthogonal rotation is limited to {RandomOrthogonalRotation.MaxSize}; use RotationFallback.BlockHadamard.");
                }

                return new RotationChoice(new RandomOrthogonalRotation(size, seed), true, $"no Hadamard construction for {size}: dense seeded random orthogonal fallback");
            case RotationFallback.None:
                throw new NotSupportedException(HadamardRotation.UnsupportedMessage(size));
            default:
                throw new ArgumentOutOfRangeException(nameof(fallback), fallback, "Unknown rotation fallback.");
        }
    }
}
