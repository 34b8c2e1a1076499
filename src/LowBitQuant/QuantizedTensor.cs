using LowBitQuant.Internal;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant;

/// <summary>
/// A quantized weight matrix [rows, columns], unpacked: one code per weight, a (scale, zero) per row and group,
/// the group of each column, and the input transform the codes live in (HeRo-Q).
/// </summary>
/// <remarks>
/// Element (r, j) dequantizes to ŵ'_rj = s_{r,g(j)} · (q_rj − z_{r,g(j)}), with g(j) = <see cref="GroupIndex"/>[j]
/// (or j / group size when it is empty). With an <see cref="InputTransform"/> T, the weights in the original basis
/// are Ŵ = Ŵ'·T⁻¹.
/// </remarks>
public sealed class QuantizedTensor
{
    private readonly byte[] _codes;
    private readonly float[] _scales;
    private readonly float[] _zeros;
    private readonly int[] _groupIndex;

    /// <summary>Creates a tensor from its parts, validating every invariant.</summary>
    /// <param name="scheme">The grid.</param>
    /// <param name="rows">Output channels.</param>
    /// <param name="columns">Input channels.</param>
    /// <param name="codes">rows × columns codes in [0, <see cref="QuantizationScheme.MaxCode"/>], row-major.</param>
    /// <param name="scales">rows × groups positive finite scales.</param>
    /// <param name="zeros">rows × groups finite zero points (code domain; integral unless the method stores real zeros).</param>
    /// <param name="groupIndex">Group of each column (g_idx); empty when it is column / group size.</param>
    /// <param name="inputTransform">The basis the codes live in, or <see langword="null"/>.</param>
    /// <param name="diagnostics">What the quantizer did; <see langword="null"/> for none recorded.</param>
    /// <exception cref="ArgumentException">A length, code, scale, zero or group index breaks the rules above.</exception>
    public QuantizedTensor(
        QuantizationScheme scheme,
        int rows,
        int columns,
        byte[] codes,
        float[] scales,
        float[] zeros,
        int[]? groupIndex = null,
        InputTransform? inputTransform = null,
        QuantizationDiagnostics? diagnostics = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(codes);
        ArgumentNullException.ThrowIfNull(scales);
        ArgumentNullException.ThrowIfNull(zeros);
        if (rows <= 0 || columns <= 0)
        {
            ThrowHelper.ThrowArgument(rows <= 0 ? nameof(rows) : nameof(columns), $"A quantized tensor needs positive dimensions, got {rows} × {columns}.");
        }

        int groups = scheme.GroupCount(columns);
        if (codes.Length != (long)rows * columns)
        {
            ThrowHelper.ThrowArgument(nameof(codes), $"Expected {(long)rows * columns} codes, got {codes.Length}.");
        }

        if (scales.Length != (long)rows * groups)
        {
            ThrowHelper.ThrowArgument(nameof(scales), $"Expected {rows} × {groups} scales, got {scales.Length}.");
        }

        if (zeros.Length != scales.Length)
        {
            ThrowHelper.ThrowArgument(nameof(zeros), $"Expected {rows} × {groups} zero points, got {zeros.Length}.");
        }

        int bad = codes.AsSpan().IndexOfAnyInRange((byte)(scheme.MaxCode + 1), byte.MaxValue);
        if (scheme.MaxCode < byte.MaxValue && bad >= 0)
        {
            ThrowHelper.ThrowArgument(nameof(codes), $"Code [{bad / columns}, {bad % columns}] = {codes[bad]} exceeds the {scheme.Bits}-bit maximum {scheme.MaxCode}.");
        }

        for (int i = 0; i < scales.Length; i++)
        {
            if (!(scales[i] > 0 && float.IsFinite(scales[i])))
            {
                ThrowHelper.ThrowArgument(nameof(scales), $"Scale [{i / groups}, {i % groups}] is {scales[i]}; scales must be positive and finite.");
            }
        }

        ThrowHelper.ThrowIfNotFinite(zeros, nameof(zeros), "zeros", groups);
        groupIndex ??= [];
        if (groupIndex.Length != 0)
        {
            if (groupIndex.Length != columns)
            {
                ThrowHelper.ThrowArgument(nameof(groupIndex), $"Expected {columns} group indices, got {groupIndex.Length}.");
            }

            for (int j = 0; j < columns; j++)
            {
                if ((uint)groupIndex[j] >= (uint)groups)
                {
                    ThrowHelper.ThrowArgument(nameof(groupIndex), $"Group index [{j}] = {groupIndex[j]} is outside [0, {groups}).");
                }
            }
        }

        if (inputTransform is not null && inputTransform.Size != columns)
        {
            ThrowHelper.ThrowArgument(nameof(inputTransform), $"Input transform of size {inputTransform.Size} does not match {columns} columns.");
        }

        Scheme = scheme;
        Rows = rows;
        Columns = columns;
        GroupCount = groups;
        _codes = codes;
        _scales = scales;
        _zeros = zeros;
        _groupIndex = groupIndex;
        InputTransform = inputTransform;
        Diagnostics = diagnostics ?? new QuantizationDiagnostics { Method = "unknown" };
    }

    /// <summary>The same tensor (arrays shared) with other diagnostics.</summary>
    internal QuantizedTensor WithDiagnostics(QuantizationDiagnostics diagnostics) =>
        new(Scheme, Rows, Columns, _codes, _scales, _zeros, _groupIndex, InputTransform, diagnostics);

    /// <summary>The grid.</summary>
    public QuantizationScheme Scheme { get; }

    /// <summary>Output channels.</summary>
    public int Rows { get; }

    /// <summary>Input channels.</summary>
    public int Columns { get; }

    /// <summary>Groups per row, ceil(columns / group size).</summary>
    public int GroupCount { get; }

    /// <summary>rows × columns codes, row-major, unpacked.</summary>
    public ReadOnlyMemory<byte> Codes => _codes;

    /// <summary>rows × groups scales.</summary>
    public ReadOnlyMemory<float> Scales => _scales;

    /// <summary>rows × groups zero points in the code domain.</summary>
    public ReadOnlyMemory<float> Zeros => _zeros;

    /// <summary>Group of each column (g_idx); empty when it is column / group size.</summary>
    public ReadOnlyMemory<int> GroupIndex => _groupIndex;

    /// <summary>The basis the codes live in (set by HeRo-Q), or <see langword="null"/>.</summary>
    public InputTransform? InputTransform { get; }

    /// <summary>What the quantizer did for this tensor.</summary>
    public QuantizationDiagnostics Diagnostics { get; }

    /// <summary>The group of column <paramref name="column"/>.</summary>
    public int GroupOf(int column) => _groupIndex.Length != 0 ? _groupIndex[column] : column / Scheme.GroupWidth(Columns);

    /// <summary>Whether every zero point is an integer (storable in integer-zero formats such as GPTQ).</summary>
    public bool HasIntegerZeros => Array.TrueForAll(_zeros, z => z == MathF.Round(z));

    /// <summary>Writes the dequantized weights, rows × columns, in the original basis and column order.</summary>
    /// <param name="destination">Receives rows × columns floats.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public void Dequantize(Span<float> destination)
    {
        long count = (long)Rows * Columns;
        if (destination.Length < count)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(destination), count, destination.Length);
        }

        destination = destination[..(int)count];
        int width = Scheme.GroupWidth(Columns);
        for (int r = 0; r < Rows; r++)
        {
            var codes = _codes.AsSpan(r * Columns, Columns);
            var row = destination.Slice(r * Columns, Columns);
            int groupBase = r * GroupCount;
            if (_groupIndex.Length == 0)
            {
                for (int g = 0, start = 0; start < Columns; g++, start += width)
                {
                    int len = Math.Min(width, Columns - start);
                    CpuKernels.DequantizeAffine(codes.Slice(start, len), _scales[groupBase + g], _zeros[groupBase + g], row.Slice(start, len));
                }
            }
            else
            {
                for (int j = 0; j < Columns; j++)
                {
                    int g = groupBase + _groupIndex[j];
                    row[j] = AffineScalar.Dequantize(codes[j], _scales[g], _zeros[g]);
                }
            }
        }

        InputTransform?.RestoreWeights(destination);
    }

    /// <summary>The dequantized weights as a new matrix.</summary>
    public DenseMatrix Dequantize()
    {
        var m = DenseMatrix.Create(Rows, Columns);
        Dequantize(m.Data.Span);
        return m;
    }
}
