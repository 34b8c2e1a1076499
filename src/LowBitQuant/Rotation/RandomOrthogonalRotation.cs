using System.Globalization;
using System.Numerics.Tensors;
using LowBitQuant.Internal;
using LowBitQuant.Rotation;

namespace LowBitQuant;

/// <summary>
/// A dense seeded Haar-random orthogonal matrix Q (QR of a Gaussian matrix, diagonal of R made positive), for small
/// sizes that no Hadamard construction reaches (e.g. 172). x ← x·Q costs n² per row, so sizes are capped at
/// <see cref="MaxSize"/>. Persist <see cref="Matrix"/> with a checkpoint: a generator's output may change between versions.
/// </summary>
public sealed class RandomOrthogonalRotation : IRotation
{
    /// <summary>The largest size built (n² floats are stored twice).</summary>
    public const int MaxSize = 1024;

    private readonly float[] _q;  // Q, row-major
    private readonly float[] _qt; // Qᵀ, row-major
    private readonly int _seed;

    /// <summary>Creates Q of order <paramref name="size"/> from a seeded Gaussian matrix.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not in [1, <see cref="MaxSize"/>].</exception>
    public RandomOrthogonalRotation(int size, int seed)
    {
        if (size <= 0 || size > MaxSize)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(size), size, $"A dense random orthogonal rotation needs 1 ≤ size ≤ {MaxSize}.");
        }

        Size = size;
        _seed = seed;
        var rng = new Random(seed);

        // Columns of a Gaussian matrix, orthonormalised by modified Gram–Schmidt (twice, for float-level orthogonality) in float64.
        // MGS yields R with a positive diagonal, which makes Q Haar-distributed.
        var cols = new double[size][];
        for (int j = 0; j < size; j++)
        {
            cols[j] = new double[size];
            for (int i = 0; i < size; i++)
            {
                cols[j][i] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            }
        }

        for (int j = 0; j < size; j++)
        {
            var v = cols[j];
            for (int pass = 0; pass < 2; pass++)
            {
                for (int i = 0; i < j; i++)
                {
                    double dot = TensorPrimitives.Dot<double>(cols[i], v);
                    TensorPrimitives.MultiplyAdd(cols[i], -dot, v, v);
                }
            }

            double norm = Math.Sqrt(TensorPrimitives.Dot<double>(v, v));
            TensorPrimitives.Divide(v, norm, v);
        }

        _q = new float[size * size];
        _qt = new float[size * size];
        for (int j = 0; j < size; j++)
        {
            for (int i = 0; i < size; i++)
            {
                _q[(i * size) + j] = (float)cols[j][i];
                _qt[(j * size) + i] = (float)cols[j][i];
            }
        }
    }

    /// <inheritdoc/>
    public int Size { get; }

    /// <summary>Q, row-major (persist it; it defines the rotation).</summary>
    public ReadOnlyMemory<float> Matrix => _q;

    /// <inheritdoc/>
    public string Descriptor => string.Create(CultureInfo.InvariantCulture, $"random-orthogonal;n={Size};seed={_seed};construction=mgs-qr(gaussian,System.Random)");

    /// <inheritdoc/>
    public void Apply(Span<float> rows) => Multiply(rows, _qt); // y_j = Σ_i x_i Q[i, j] = x · (Qᵀ row j)

    /// <inheritdoc/>
    public void ApplyTranspose(Span<float> rows) => Multiply(rows, _q); // y_j = Σ_i x_i Q[j, i]

    private void Multiply(Span<float> rows, float[] byRows)
    {
        int n = Size;
        RowParallel.For(rows, n, n, n, (row, scratch) =>
        {
            row.CopyTo(scratch);
            for (int j = 0; j < n; j++)
            {
                row[j] = TensorPrimitives.Dot(scratch.AsSpan(0, n), byRows.AsSpan(j * n, n));
            }
        });
    }
}
