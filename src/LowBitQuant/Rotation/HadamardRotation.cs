using System.Globalization;
using System.Numerics.Tensors;
using LowBitQuant.Internal;
using LowBitQuant.Kernels.Cpu;
using LowBitQuant.Rotation;

namespace LowBitQuant;

/// <summary>
/// A randomised normalised Hadamard rotation R = diag(s)·(H_K ⊗ H_{2^m})/√n of order n = K·2^m (rotations.md):
/// the 2^m factor runs as an in-place fast Walsh–Hadamard transform, the K × K factor (Paley I or II over GF(q),
/// generated, never tabulated) as a dense ±1 product. R is orthogonal but not symmetric in general, so
/// <see cref="Apply"/> and <see cref="ApplyTranspose"/> are separate.
/// </summary>
public sealed class HadamardRotation : IRotation
{
    private readonly HadamardConstruction _construction;
    private readonly sbyte[] _signs;
    private readonly float[] _scaledSigns; // s_i / √n
    private readonly float[] _core;        // H_K, row-major, as float (empty when K = 1)
    private readonly float[] _coreT;       // H_Kᵀ
    private readonly string _signSource;

    private HadamardRotation(HadamardConstruction construction, sbyte[] signs, string signSource)
    {
        _construction = construction;
        _signs = signs;
        _signSource = signSource;
        int n = construction.Size;
        float inv = 1f / MathF.Sqrt(n);
        _scaledSigns = new float[n];
        for (int i = 0; i < n; i++)
        {
            _scaledSigns[i] = signs[i] * inv;
        }

        int k = construction.CoreOrder;
        if (k > 1)
        {
            var h = construction.GetCore();
            _core = new float[k * k];
            _coreT = new float[k * k];
            for (int a = 0; a < k; a++)
            {
                for (int b = 0; b < k; b++)
                {
                    _core[(a * k) + b] = h[(a * k) + b];
                    _coreT[(b * k) + a] = h[(a * k) + b];
                }
            }
        }
        else
        {
            _core = _coreT = [];
        }
    }

    /// <inheritdoc/>
    public int Size => _construction.Size;

    /// <summary>K, the order of the dense Paley factor (1 for a pure power of two).</summary>
    public int CoreOrder => _construction.CoreOrder;

    /// <summary>How the dense factor is built.</summary>
    public HadamardCoreKind CoreKind => _construction.Kind;

    /// <summary>The sign vector s (±1, n entries). Persist it with a checkpoint; <see cref="Create(ReadOnlySpan{sbyte})"/> rebuilds R from it.</summary>
    public ReadOnlyMemory<sbyte> Signs => _signs;

    /// <inheritdoc/>
    /// <remarks>"hadamard;n=…;K=…;2^m=…;core=…[;q=…;poly=…];kronecker=…;signs=…". The signs themselves are in <see cref="Signs"/>.</remarks>
    public string Descriptor => $"hadamard;{_construction.Descriptor};signs={_signSource}";

    /// <summary>Whether a Hadamard rotation of order <paramref name="size"/> can be built (Sylvester, Paley I or II times a power of two).</summary>
    public static bool IsSupported(int size) => HadamardConstruction.TryPlan(size) is not null;

    /// <summary>The construction chosen for <paramref name="size"/> (kind, n, K, 2^m, q, polynomial), or <see langword="null"/> when unsupported.</summary>
    public static string? DescribeConstruction(int size) => HadamardConstruction.TryPlan(size)?.Descriptor;

    /// <summary>Every supported order from 1 to <paramref name="maxSize"/>, ascending.</summary>
    public static IEnumerable<int> SupportedSizes(int maxSize)
    {
        for (int n = 1; n <= maxSize; n++)
        {
            if (IsSupported(n))
            {
                yield return n;
            }
        }
    }

    /// <summary>Creates a rotation of order <paramref name="size"/> with seeded random signs.</summary>
    /// <param name="size">n.</param>
    /// <param name="seed">Seed of the sign generator.</param>
    /// <param name="compute">Reserved for a GPU path; the CPU path is used for now.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="NotSupportedException">No Hadamard construction exists for <paramref name="size"/>; the message names the nearest supported sizes and the fallbacks.</exception>
    public static HadamardRotation Create(int size, int seed, ComputeContext? compute = null)
    {
        _ = compute;
        var plan = Plan(size);
        var rng = new Random(seed);
        var signs = new sbyte[size];
        for (int i = 0; i < size; i++)
        {
            signs[i] = rng.Next(2) == 0 ? (sbyte)1 : (sbyte)-1;
        }

        return new HadamardRotation(plan, signs, string.Create(CultureInfo.InvariantCulture, $"random(seed={seed})"));
    }

    /// <summary>Rebuilds a rotation from a persisted sign vector (its length is the order).</summary>
    /// <exception cref="ArgumentException">A sign is not ±1, or the vector is empty.</exception>
    /// <exception cref="NotSupportedException">No Hadamard construction exists for the length.</exception>
    public static HadamardRotation Create(ReadOnlySpan<sbyte> signs)
    {
        if (signs.IsEmpty)
        {
            ThrowHelper.ThrowArgument(nameof(signs), "A sign vector needs at least one entry.");
        }

        for (int i = 0; i < signs.Length; i++)
        {
            if (signs[i] is not (1 or -1))
            {
                ThrowHelper.ThrowArgument(nameof(signs), $"Sign [{i}] is {signs[i]}; signs must be +1 or −1.");
            }
        }

        return new HadamardRotation(Plan(signs.Length), signs.ToArray(), "explicit");
    }

    /// <summary>The plain normalised Hadamard matrix (all signs +1): Ĥ = (H_K ⊗ H_{2^m})/√n.</summary>
    /// <exception cref="NotSupportedException">No Hadamard construction exists for <paramref name="size"/>.</exception>
    public static HadamardRotation CreateUnsigned(int size)
    {
        var plan = Plan(size);
        var signs = new sbyte[size];
        Array.Fill(signs, (sbyte)1);
        return new HadamardRotation(plan, signs, "none");
    }

    /// <inheritdoc/>
    public void Apply(Span<float> rows)
    {
        // x·R = ((x ⊙ s)/√n)·(H_K ⊗ H_M): FWHT along each M-long segment, then Y = H_Kᵀ·X over the K segments.
        int k = CoreOrder, m = Size / k;
        RowParallel.For(rows, Size, k > 1 ? Size : 0, Math.Max(1, k + System.Numerics.BitOperations.Log2((uint)m)), (row, scratch) =>
        {
            TensorPrimitives.Multiply(row, _scaledSigns, row);
            TransformRow(row, scratch, _coreT, k, m);
        });
    }

    /// <inheritdoc/>
    public void ApplyTranspose(Span<float> rows)
    {
        // x·Rᵀ = (x·(H_Kᵀ ⊗ H_M))⊙s/√n: FWHT along each segment, Y = H_K·X, then the signs.
        int k = CoreOrder, m = Size / k;
        RowParallel.For(rows, Size, k > 1 ? Size : 0, Math.Max(1, k + System.Numerics.BitOperations.Log2((uint)m)), (row, scratch) =>
        {
            TransformRow(row, scratch, _core, k, m);
            TensorPrimitives.Multiply(row, _scaledSigns, row);
        });
    }

    /// <summary>row (a K × M array X) ← C·X·H_M, where C is <paramref name="mix"/> (K × K, row-major).</summary>
    private static void TransformRow(Span<float> row, float[] scratch, float[] mix, int k, int m)
    {
        if (m > 1)
        {
            for (int a = 0; a < k; a++)
            {
                CpuKernels.Fwht(row.Slice(a * m, m));
            }
        }

        if (k == 1)
        {
            return;
        }

        // Transpose X (K × M) into scratch (M × K) so each output is one long dot product of length K.
        var xt = scratch.AsSpan(0, k * m);
        for (int a = 0; a < k; a++)
        {
            for (int b = 0; b < m; b++)
            {
                xt[(b * k) + a] = row[(a * m) + b];
            }
        }

        for (int a = 0; a < k; a++)
        {
            var c = mix.AsSpan(a * k, k);
            for (int b = 0; b < m; b++)
            {
                row[(a * m) + b] = TensorPrimitives.Dot(c, xt.Slice(b * k, k));
            }
        }
    }

    private static HadamardConstruction Plan(int size)
    {
        if (size <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), size, "A rotation needs a positive size.");
        }

        return HadamardConstruction.TryPlan(size) ?? throw new NotSupportedException(UnsupportedMessage(size));
    }

    internal static string UnsupportedMessage(int size)
    {
        int below = size - 1, above = size + 1;
        while (below > 0 && !IsSupported(below))
        {
            below--;
        }

        while (!IsSupported(above))
        {
            above++;
        }

        int block = BlockHadamardRotation.LargestBlock(size);
        return string.Create(CultureInfo.InvariantCulture,
            $"No Hadamard rotation of size {size} can be built by Sylvester, Paley I or Paley II (dense factor up to {HadamardConstruction.MaxCoreOrder}). " +
            $"Nearest supported sizes: {below} and {above}. Alternatives: {(block > 1 ? $"BlockHadamardRotation with blocks of {block}" : "no Hadamard block divides it")}" +
            $"{(size <= RandomOrthogonalRotation.MaxSize ? $", or RandomOrthogonalRotation (dense, size ≤ {RandomOrthogonalRotation.MaxSize})" : string.Empty)}; RotationFactory.Create chooses one explicitly.");
    }
}
