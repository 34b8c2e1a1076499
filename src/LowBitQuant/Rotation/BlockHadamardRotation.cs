using System.Globalization;
using System.Numerics.Tensors;
using LowBitQuant.Internal;
using LowBitQuant.Rotation;

namespace LowBitQuant;

/// <summary>
/// The explicit fallback for sizes with no Hadamard construction: R = diag(s)·(I_{n/b} ⊗ Ĥ_b), with b the largest
/// constructible Hadamard order dividing n (rotations.md §4). Exactly orthogonal, but it mixes only within blocks of b
/// coordinates. Never chosen silently: <see cref="RotationFactory"/> reports it.
/// </summary>
public sealed class BlockHadamardRotation : IRotation
{
    private readonly HadamardRotation _block;
    private readonly sbyte[] _signs;
    private readonly float[] _signsFloat;
    private readonly int _seed;

    /// <summary>Creates a block rotation with seeded random signs over all n coordinates.</summary>
    /// <param name="size">n.</param>
    /// <param name="seed">Seed of the sign generator.</param>
    /// <param name="compute">Reserved for a GPU path.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="NotSupportedException">No Hadamard block larger than 1 divides <paramref name="size"/> (odd sizes).</exception>
    public BlockHadamardRotation(int size, int seed, ComputeContext? compute = null)
    {
        _ = compute;
        if (size <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), size, "A rotation needs a positive size.");
        }

        int b = LargestBlock(size);
        if (b <= 1 && size > 1)
        {
            throw new NotSupportedException($"No Hadamard block larger than 1 divides size {size}; use RandomOrthogonalRotation (size ≤ {RandomOrthogonalRotation.MaxSize}) instead.");
        }

        _block = HadamardRotation.CreateUnsigned(b);
        _seed = seed;
        Size = size;
        var rng = new Random(seed);
        _signs = new sbyte[size];
        _signsFloat = new float[size];
        for (int i = 0; i < size; i++)
        {
            _signs[i] = rng.Next(2) == 0 ? (sbyte)1 : (sbyte)-1;
            _signsFloat[i] = _signs[i];
        }
    }

    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>b, the order of each diagonal Hadamard block.</summary>
    public int BlockSize => _block.Size;

    /// <summary>The sign vector s over all n coordinates (persist it with a checkpoint).</summary>
    public ReadOnlyMemory<sbyte> Signs => _signs;

    /// <inheritdoc/>
    public string Descriptor => string.Create(CultureInfo.InvariantCulture,
        $"block-hadamard;n={Size};blocks={Size / BlockSize}x{BlockSize};block=[{DescribeBlock()}];signs=random(seed={_seed})");

    /// <summary>The largest constructible Hadamard order that divides <paramref name="size"/> (1 when none larger does).</summary>
    public static int LargestBlock(int size)
    {
        for (int b = size; b > 1; b--)
        {
            if (size % b == 0 && HadamardRotation.IsSupported(b))
            {
                return b;
            }
        }

        return 1;
    }

    /// <inheritdoc/>
    public void Apply(Span<float> rows)
    {
        CheckRows(rows);
        for (int start = 0; start < rows.Length; start += Size)
        {
            var row = rows.Slice(start, Size);
            TensorPrimitives.Multiply(row, _signsFloat, row);
        }

        _block.Apply(rows);
    }

    /// <inheritdoc/>
    public void ApplyTranspose(Span<float> rows)
    {
        CheckRows(rows);
        _block.ApplyTranspose(rows);
        for (int start = 0; start < rows.Length; start += Size)
        {
            var row = rows.Slice(start, Size);
            TensorPrimitives.Multiply(row, _signsFloat, row);
        }
    }

    private string DescribeBlock() => HadamardRotation.DescribeConstruction(BlockSize) ?? "n=1";

    private void CheckRows(Span<float> rows)
    {
        if (rows.Length % Size != 0)
        {
            ThrowHelper.ThrowArgument(nameof(rows), $"Length {rows.Length} is not a multiple of the rotation size {Size}.");
        }
    }
}
