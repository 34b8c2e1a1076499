using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Immutable second-order statistics of a layer's inputs, normalised by the token count:
/// H = XᵀX / tokens (full) or its diagonal h_j = Σ x_j² / tokens.
/// </summary>
public sealed class HessianEstimate
{
    private HessianEstimate(HessianKind kind, int size, long sampleCount, float[] diagonal, float[] matrix)
    {
        Kind = kind;
        Size = size;
        SampleCount = sampleCount;
        DiagonalArray = diagonal;
        MatrixArray = matrix;
    }

    /// <summary><see cref="HessianKind.Diagonal"/> or <see cref="HessianKind.Full"/>.</summary>
    public HessianKind Kind { get; }

    /// <summary>Input channels n.</summary>
    public int Size { get; }

    /// <summary>Tokens the estimate was built from.</summary>
    public long SampleCount { get; }

    /// <summary>The n diagonal entries (present for both kinds).</summary>
    public ReadOnlyMemory<float> Diagonal => DiagonalArray;

    /// <summary>The n × n matrix, row-major; empty when <see cref="Kind"/> is <see cref="HessianKind.Diagonal"/>.</summary>
    public ReadOnlyMemory<float> Matrix => MatrixArray;

    internal float[] DiagonalArray { get; }

    internal float[] MatrixArray { get; }

    /// <summary>Creates a diagonal estimate.</summary>
    /// <param name="diagonal">Mean square of each input channel; finite and not negative.</param>
    /// <param name="sampleCount">Tokens behind the estimate; positive.</param>
    /// <exception cref="ArgumentException">An entry is negative, NaN or ±Inf, or the diagonal is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sampleCount"/> is not positive.</exception>
    public static HessianEstimate FromDiagonal(ReadOnlySpan<float> diagonal, long sampleCount)
    {
        ValidateCount(sampleCount);
        if (diagonal.IsEmpty)
        {
            ThrowHelper.ThrowArgument(nameof(diagonal), "A Hessian diagonal must have at least one entry.");
        }

        ThrowHelper.ThrowIfNotFinite(diagonal, nameof(diagonal), "hessian_diag");
        for (int j = 0; j < diagonal.Length; j++)
        {
            if (diagonal[j] < 0)
            {
                ThrowHelper.ThrowArgument(nameof(diagonal), $"Hessian diagonal entry [{j}] is negative ({diagonal[j]}); a mean square cannot be.");
            }
        }

        return new HessianEstimate(HessianKind.Diagonal, diagonal.Length, sampleCount, diagonal.ToArray(), []);
    }

    /// <summary>Creates a full estimate from a symmetric n × n matrix (row-major).</summary>
    /// <param name="matrix">H = XᵀX / tokens; finite and symmetric to float rounding. Tiny negative diagonal noise is allowed (quantizers damp it).</param>
    /// <param name="size">n.</param>
    /// <param name="sampleCount">Tokens behind the estimate; positive.</param>
    /// <exception cref="ArgumentException">The length is not n², a value is not finite, or the matrix is not symmetric.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> or <paramref name="sampleCount"/> is not positive.</exception>
    public static HessianEstimate FromMatrix(ReadOnlySpan<float> matrix, int size, long sampleCount)
    {
        ValidateCount(sampleCount);
        if (size <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), size, "Hessian size must be positive.");
        }

        if (matrix.Length != (long)size * size)
        {
            ThrowHelper.ThrowArgument(nameof(matrix), $"A {size} × {size} Hessian needs {(long)size * size} elements, but {matrix.Length} were given.");
        }

        ThrowHelper.ThrowIfNotFinite(matrix, nameof(matrix), "hessian", size);
        for (int i = 0; i < size; i++)
        {
            for (int j = i + 1; j < size; j++)
            {
                float a = matrix[(i * size) + j], b = matrix[(j * size) + i];
                if (MathF.Abs(a - b) > 1e-5f * (MathF.Abs(a) + MathF.Abs(b)) + 1e-30f)
                {
                    ThrowHelper.ThrowArgument(nameof(matrix), $"Hessian is not symmetric: H[{i}, {j}] = {a} but H[{j}, {i}] = {b}.");
                }
            }
        }

        var diagonal = new float[size];
        for (int i = 0; i < size; i++)
        {
            diagonal[i] = matrix[(i * size) + i];
        }

        return new HessianEstimate(HessianKind.Full, size, sampleCount, diagonal, matrix.ToArray());
    }

    /// <summary>
    /// Combines estimates of the same layer built from disjoint calibration shards into the estimate of the whole stream:
    /// the token-weighted mean (n_a·H_a + n_b·H_b) / (n_a + n_b).
    /// </summary>
    /// <exception cref="ArgumentException">The estimates differ in kind or size.</exception>
    public static HessianEstimate Merge(HessianEstimate first, HessianEstimate second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (first.Kind != second.Kind || first.Size != second.Size)
        {
            ThrowHelper.ThrowArgument(nameof(second), $"Cannot merge a {second.Kind} estimate of size {second.Size} into a {first.Kind} estimate of size {first.Size}.");
        }

        long total = checked(first.SampleCount + second.SampleCount);
        double wa = (double)first.SampleCount / total, wb = (double)second.SampleCount / total;
        static float[] Mix(float[] a, float[] b, double wa, double wb)
        {
            var r = new float[a.Length];
            for (int i = 0; i < r.Length; i++)
            {
                r[i] = (float)((wa * a[i]) + (wb * b[i]));
            }

            return r;
        }

        return new HessianEstimate(first.Kind, first.Size, total, Mix(first.DiagonalArray, second.DiagonalArray, wa, wb), Mix(first.MatrixArray, second.MatrixArray, wa, wb));
    }

    /// <summary>The diagonal-only view of this estimate (what DASH-Q uses from a full Hessian).</summary>
    public HessianEstimate ToDiagonal() => Kind == HessianKind.Diagonal ? this : new(HessianKind.Diagonal, Size, SampleCount, DiagonalArray, []);

    internal static HessianEstimate CreateUnchecked(HessianKind kind, int size, long sampleCount, float[] diagonal, float[] matrix) =>
        new(kind, size, sampleCount, diagonal, matrix);

    private static void ValidateCount(long sampleCount)
    {
        if (sampleCount <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(sampleCount), sampleCount, "An estimate needs at least one token.");
        }
    }
}
