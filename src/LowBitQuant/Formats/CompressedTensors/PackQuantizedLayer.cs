using LowBitQuant.Internal;

namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>
/// One quantized linear module in the compressed-tensors <c>pack-quantized</c> layout (compressed-tensors.md §2–3):
/// the contents of <c>weight_packed</c>, <c>weight_scale</c>, <c>weight_zero_point</c>, <c>weight_g_idx</c> and
/// <c>weight_shape</c>, ready to be written as safetensors tensors.
/// </summary>
/// <remarks>
/// With b bits, f = 32 / b unsigned fields share an int32 word, field j at bits [b·j, b·j + b), no field spanning two
/// words, the last word of a run zero-padded. Element (o, i) dequantizes to
/// W[o, i] = scale[o, g(i)] · (q[o, i] − z[o, g(i)]), g(i) = i / group size or <c>weight_g_idx[i]</c>, where the stored
/// fields q and z are LowBitQuant's unsigned codes and zero points unchanged; a symmetric module has z = 2^(b−1) and
/// stores no zero points. Create one with <see cref="PackQuantizedPacker.Pack(QuantizedTensor, PackQuantizedOptions?)"/>,
/// or from tensors read back from a checkpoint with the constructor.
/// </remarks>
public sealed class PackQuantizedLayer
{
    private readonly int[] _packed;
    private readonly ushort[] _scales;
    private readonly int[] _zeroPoints;
    private readonly int[] _groupIndex;

    /// <summary>Creates a module from its stored tensors, validating every shape, field and padding bit.</summary>
    /// <param name="bits">num_bits, 1 to 8.</param>
    /// <param name="groupSize">group_size (strategy "group"), or <see langword="null"/> for strategy "channel" (one group per row).</param>
    /// <param name="rows">out, the first element of <c>weight_shape</c>.</param>
    /// <param name="columns">in, the second element of <c>weight_shape</c>.</param>
    /// <param name="weightPacked">[out, ceil(in / f)] words; padding fields and unused top bits zero.</param>
    /// <param name="weightScale">[out, G] 16-bit patterns in <paramref name="scaleType"/>, each a positive finite value.</param>
    /// <param name="scaleType">The dtype of <paramref name="weightScale"/>.</param>
    /// <param name="weightZeroPoint">[ceil(out / f), G] words packed along dimension 0, or <see langword="null"/> when symmetric.</param>
    /// <param name="weightGroupIndex">[in] group of each column in [0, G), or <see langword="null"/> when it is column / group size.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weightPacked"/> or <paramref name="weightScale"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is outside [1, 8], or a dimension or the group size is not positive.</exception>
    /// <exception cref="ArgumentException">
    /// The group size does not divide <paramref name="columns"/>, a length disagrees with the shapes above, a padding bit is set,
    /// a scale is not positive and finite, or a group index is out of range.
    /// </exception>
    public PackQuantizedLayer(
        int bits,
        int? groupSize,
        int rows,
        int columns,
        int[] weightPacked,
        ushort[] weightScale,
        ScaleDataType scaleType,
        int[]? weightZeroPoint,
        int[]? weightGroupIndex)
    {
        ArgumentNullException.ThrowIfNull(weightPacked);
        ArgumentNullException.ThrowIfNull(weightScale);
        if (bits is < 1 or > 8)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(bits), bits, "pack-quantized stores 1 to 8 bits per weight.");
        }

        if (rows <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(rows), rows, "weight_shape must be positive.");
        }

        if (columns <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(columns), columns, "weight_shape must be positive.");
        }

        if (groupSize is <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(groupSize), groupSize, "Group size must be positive; use null for strategy \"channel\".");
        }

        if (groupSize is int g && columns % g != 0)
        {
            ThrowHelper.ThrowArgument(nameof(groupSize), $"Group size {g} does not divide in = {columns}; the format takes G = in // group_size = {columns / g}, which would leave columns without a group.");
        }

        if (!Enum.IsDefined(scaleType))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(scaleType), scaleType, "Unknown scale dtype.");
        }

        int groups = groupSize is int gs ? columns / gs : 1;
        int words = Int32FieldPacking.WordCount(columns, bits);
        if (weightPacked.Length != (long)rows * words)
        {
            ThrowHelper.ThrowArgument(nameof(weightPacked), $"weight_packed must be [{rows}, {words}] = {(long)rows * words} words for {bits}-bit [{rows}, {columns}], got {weightPacked.Length}.");
        }

        for (int r = 0; r < rows; r++)
        {
            for (int w = 0; w < words; w++)
            {
                uint unused = Int32FieldPacking.UnusedBits(Int32FieldPacking.FieldsInWord(w, columns, bits), bits);
                if (((uint)weightPacked[(r * words) + w] & unused) != 0)
                {
                    ThrowHelper.ThrowArgument(nameof(weightPacked), $"weight_packed[{r}, {w}] = 0x{(uint)weightPacked[(r * words) + w]:X8} has bits set outside its {bits}-bit fields (padding must be zero).");
                }
            }
        }

        if (weightScale.Length != (long)rows * groups)
        {
            ThrowHelper.ThrowArgument(nameof(weightScale), $"weight_scale must be [{rows}, {groups}], got {weightScale.Length} values.");
        }

        for (int i = 0; i < weightScale.Length; i++)
        {
            float s = ScaleConversion.Decode(weightScale[i], scaleType);
            if (!(s > 0 && float.IsFinite(s)))
            {
                ThrowHelper.ThrowArgument(nameof(weightScale), $"weight_scale[{i / groups}, {i % groups}] is {s}; scales must be positive and finite.");
            }
        }

        if (weightZeroPoint is not null)
        {
            int zeroWords = Int32FieldPacking.WordCount(rows, bits);
            if (weightZeroPoint.Length != (long)zeroWords * groups)
            {
                ThrowHelper.ThrowArgument(nameof(weightZeroPoint), $"weight_zero_point must be [{zeroWords}, {groups}] (packed along the output dimension), got {weightZeroPoint.Length} words.");
            }

            for (int w = 0; w < zeroWords; w++)
            {
                uint unused = Int32FieldPacking.UnusedBits(Int32FieldPacking.FieldsInWord(w, rows, bits), bits);
                for (int c = 0; c < groups; c++)
                {
                    if (((uint)weightZeroPoint[(w * groups) + c] & unused) != 0)
                    {
                        ThrowHelper.ThrowArgument(nameof(weightZeroPoint), $"weight_zero_point[{w}, {c}] = 0x{(uint)weightZeroPoint[(w * groups) + c]:X8} has bits set outside its {bits}-bit fields (padding must be zero).");
                    }
                }
            }
        }

        if (weightGroupIndex is not null)
        {
            if (weightGroupIndex.Length != columns)
            {
                ThrowHelper.ThrowArgument(nameof(weightGroupIndex), $"weight_g_idx must hold {columns} entries, got {weightGroupIndex.Length}.");
            }

            for (int j = 0; j < columns; j++)
            {
                if ((uint)weightGroupIndex[j] >= (uint)groups)
                {
                    ThrowHelper.ThrowArgument(nameof(weightGroupIndex), $"weight_g_idx[{j}] = {weightGroupIndex[j]} is outside [0, {groups}).");
                }
            }
        }

        Bits = bits;
        GroupSize = groupSize;
        Rows = rows;
        Columns = columns;
        GroupCount = groups;
        ScaleType = scaleType;
        _packed = weightPacked;
        _scales = weightScale;
        _zeroPoints = weightZeroPoint ?? [];
        _groupIndex = weightGroupIndex ?? [];
        Symmetric = weightZeroPoint is null;
    }

    /// <summary>num_bits.</summary>
    public int Bits { get; }

    /// <summary>group_size, or <see langword="null"/> for strategy "channel" (one group per row).</summary>
    public int? GroupSize { get; }

    /// <summary>out, output channels.</summary>
    public int Rows { get; }

    /// <summary>in, input channels.</summary>
    public int Columns { get; }

    /// <summary>G, groups per row: in / group size, or 1 for strategy "channel".</summary>
    public int GroupCount { get; }

    /// <summary>Fields per int32 word, f = 32 / b.</summary>
    public int FieldsPerWord => Int32FieldPacking.FieldsPerWord(Bits);

    /// <summary>Whether no zero points are stored (every zero is 2^(b−1)).</summary>
    public bool Symmetric { get; }

    /// <summary>Whether <c>weight_g_idx</c> is stored.</summary>
    public bool HasGroupIndex => _groupIndex.Length != 0;

    /// <summary>The dtype of <see cref="WeightScale"/>.</summary>
    public ScaleDataType ScaleType { get; }

    /// <summary>The safetensors dtype name of <see cref="WeightScale"/>: "F16" or "BF16".</summary>
    public string ScaleSafetensorsDType => ScaleConversion.SafetensorsName(ScaleType);

    /// <summary><c>weight_packed</c>, row-major with shape <see cref="WeightPackedShape"/>; each int32 is the uint32 bit pattern.</summary>
    public ReadOnlyMemory<int> WeightPacked => _packed;

    /// <summary>[out, ceil(in / f)].</summary>
    public IReadOnlyList<int> WeightPackedShape => [Rows, Int32FieldPacking.WordCount(Columns, Bits)];

    /// <summary><c>weight_scale</c> as 16-bit patterns in <see cref="ScaleType"/>, row-major with shape <see cref="WeightScaleShape"/>.</summary>
    public ReadOnlyMemory<ushort> WeightScale => _scales;

    /// <summary>[out, G].</summary>
    public IReadOnlyList<int> WeightScaleShape => [Rows, GroupCount];

    /// <summary><c>weight_zero_point</c>, row-major with shape <see cref="WeightZeroPointShape"/>; empty when <see cref="Symmetric"/>.</summary>
    public ReadOnlyMemory<int> WeightZeroPoint => _zeroPoints;

    /// <summary>[ceil(out / f), G], or <see langword="null"/> when <see cref="Symmetric"/> (the tensor is not stored).</summary>
    public IReadOnlyList<int>? WeightZeroPointShape => Symmetric ? null : [Int32FieldPacking.WordCount(Rows, Bits), GroupCount];

    /// <summary><c>weight_g_idx</c>, [in]; empty when <see cref="HasGroupIndex"/> is false (the tensor is not stored).</summary>
    public ReadOnlyMemory<int> WeightGroupIndex => _groupIndex;

    /// <summary><c>weight_shape</c>: (out, in), stored as I32 [2].</summary>
    public IReadOnlyList<int> WeightShape => [Rows, Columns];

    /// <summary>The scales as float32, [out, G] row-major.</summary>
    public float[] GetScales()
    {
        var s = new float[_scales.Length];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = ScaleConversion.Decode(_scales[i], ScaleType);
        }

        return s;
    }

    /// <summary>The unsigned codes, [out, in] row-major, with the padding dropped.</summary>
    public byte[] GetCodes()
    {
        var codes = new byte[(long)Rows * Columns];
        Int32FieldPacking.UnpackRows(_packed, Rows, Columns, Bits, codes);
        return codes;
    }

    /// <summary>The zero points, [out, G] row-major: the stored fields, or 2^(b−1) everywhere when <see cref="Symmetric"/>.</summary>
    public int[] GetZeroPoints()
    {
        var z = new int[(long)Rows * GroupCount];
        if (Symmetric)
        {
            Array.Fill(z, 1 << (Bits - 1));
            return z;
        }

        var fields = new byte[z.Length];
        Int32FieldPacking.UnpackAlongDim0(_zeroPoints, Rows, GroupCount, Bits, fields);
        for (int i = 0; i < z.Length; i++)
        {
            z[i] = fields[i];
        }

        return z;
    }

    /// <summary>Converts back to an unpacked <see cref="QuantizedTensor"/> (scales as stored, i.e. rounded to <see cref="ScaleType"/>).</summary>
    /// <exception cref="NotSupportedException"><see cref="Bits"/> is 1, below <see cref="QuantizationScheme.MinBits"/>.</exception>
    public QuantizedTensor Unpack()
    {
        if (Bits < QuantizationScheme.MinBits)
        {
            throw new NotSupportedException($"A {Bits}-bit module cannot become a QuantizedTensor, which needs at least {QuantizationScheme.MinBits} bits.");
        }

        var zeros = Array.ConvertAll(GetZeroPoints(), z => (float)z);
        var scheme = new QuantizationScheme(Bits, GroupSize, Symmetric);
        return new QuantizedTensor(
            scheme,
            Rows,
            Columns,
            GetCodes(),
            GetScales(),
            zeros,
            HasGroupIndex ? (int[])_groupIndex.Clone() : null,
            diagnostics: new QuantizationDiagnostics { Method = "compressed-tensors pack-quantized" });
    }
}
