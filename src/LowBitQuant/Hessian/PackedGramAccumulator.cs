namespace LowBitQuant.Hessian;

/// <summary>
/// Float64 running sum of XᵀX stored as the upper triangle of <see cref="Tile"/> × <see cref="Tile"/> tiles:
/// only tile pairs (I ≤ J) exist, each row-major. For n channels this holds about n²/2 doubles, the same bytes as one
/// float32 n × n matrix (826 MB for n = 14336), plus the padding of the last tile.
/// </summary>
internal sealed class PackedGramAccumulator
{
    /// <summary>Tile edge in channels; 64 floats = four 512-bit vectors, so a micro-kernel covers a tile row.</summary>
    public const int Tile = 64;

    /// <summary>Doubles per tile.</summary>
    public const int TileElements = Tile * Tile;

    public PackedGramAccumulator(int columns)
    {
        Columns = columns;
        Tiles = (columns + Tile - 1) / Tile;
        long pairs = (long)Tiles * (Tiles + 1) / 2;
        long length = pairs * TileElements;
        if (length > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(columns), columns, $"A full Hessian of {columns} channels needs {length} accumulator entries, more than one array can hold.");
        }

        Data = new double[length];
    }

    public int Columns { get; }

    /// <summary>Tiles along one edge.</summary>
    public int Tiles { get; }

    /// <summary>Tile pairs (I ≤ J) stored.</summary>
    public int Pairs => Tiles * (Tiles + 1) / 2;

    public double[] Data { get; }

    /// <summary>Index of the tile pair (I, J), I ≤ J, in row-major order of the upper triangle.</summary>
    public static int PairIndex(int tiles, int i, int j) => (i * tiles) - (i * (i - 1) / 2) + (j - i);

    /// <summary>Inverse of <see cref="PairIndex"/>.</summary>
    public static (int I, int J) PairAt(int tiles, int index)
    {
        int i = 0;
        while (index >= tiles - i)
        {
            index -= tiles - i;
            i++;
        }

        return (i, i + index);
    }

    /// <summary>Offset of tile pair (I, J) in <see cref="Data"/>.</summary>
    public long Offset(int i, int j) => (long)PairIndex(Tiles, i, j) * TileElements;

    /// <summary>The accumulated (XᵀX)[row, column] for row ≤ column.</summary>
    public double Get(int row, int column)
    {
        if (row > column)
        {
            (row, column) = (column, row);
        }

        return Data[Offset(row / Tile, column / Tile) + ((row % Tile) * Tile) + (column % Tile)];
    }

    /// <summary>Writes scale·XᵀX as a full symmetric row-major n × n float matrix (the mirror of the upper triangle).</summary>
    public void CopyScaledTo(double scale, float[] matrix)
    {
        int n = Columns;
        Parallel.For(0, Tiles, ti =>
        {
            for (int tj = ti; tj < Tiles; tj++)
            {
                long baseOffset = Offset(ti, tj);
                int rowEnd = Math.Min(Tile, n - (ti * Tile));
                int colEnd = Math.Min(Tile, n - (tj * Tile));
                for (int r = 0; r < rowEnd; r++)
                {
                    int row = (ti * Tile) + r;
                    int cStart = ti == tj ? r : 0;
                    for (int c = cStart; c < colEnd; c++)
                    {
                        int col = (tj * Tile) + c;
                        float v = (float)(Data[baseOffset + (r * Tile) + c] * scale);
                        matrix[((long)row * n) + col] = v;
                        matrix[((long)col * n) + row] = v;
                    }
                }
            }
        });
    }

    /// <summary>Adds another accumulator of the same size.</summary>
    public void Add(PackedGramAccumulator other)
    {
        var a = Data;
        var b = other.Data;
        for (long i = 0; i < a.Length; i++)
        {
            a[i] += b[i];
        }
    }
}
