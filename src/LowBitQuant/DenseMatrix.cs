using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>A row-major float32 matrix view; it owns nothing. The only matrix type of the public API.</summary>
public readonly struct DenseMatrix
{
    /// <summary>Wraps <paramref name="data"/> as a <paramref name="rows"/> × <paramref name="columns"/> matrix.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="data"/> does not hold exactly rows × columns elements.</exception>
    public DenseMatrix(Memory<float> data, int rows, int columns)
    {
        if (rows < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(rows), rows, "Row count must not be negative.");
        }

        if (columns < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(columns), columns, "Column count must not be negative.");
        }

        if ((long)rows * columns != data.Length)
        {
            ThrowHelper.ThrowArgument(nameof(data), $"A {rows} × {columns} matrix needs {(long)rows * columns} elements, but {data.Length} were given.");
        }

        Data = data;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Creates a matrix over a new array.</summary>
    public static DenseMatrix Create(int rows, int columns) => new(new float[checked(rows * columns)], rows, columns);

    /// <summary>Number of rows (output channels of a linear layer).</summary>
    public int Rows { get; }

    /// <summary>Number of columns (input channels of a linear layer).</summary>
    public int Columns { get; }

    /// <summary>The elements, row by row.</summary>
    public Memory<float> Data { get; }

    /// <summary>True when the matrix has no elements.</summary>
    public bool IsEmpty => Rows == 0 || Columns == 0;

    /// <summary>The elements of one row.</summary>
    public Span<float> GetRow(int row) => Data.Span.Slice(row * Columns, Columns);

    /// <summary>A deep copy over a new array.</summary>
    public DenseMatrix Clone() => new(Data.ToArray(), Rows, Columns);
}
