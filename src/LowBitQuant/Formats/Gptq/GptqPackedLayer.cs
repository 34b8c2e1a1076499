using LowBitQuant.Internal;
using LowBitQuant.Kernels.Cpu;

namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// One quantized linear layer in GPTQ checkpoint layout (formats/gptq-checkpoint.md §1): <c>qweight</c> I32
/// [in·b/32, out], <c>qzeros</c> I32 [G, out·b/32], <c>scales</c> F16 [G, out] and <c>g_idx</c> I32 [in], all row-major.
/// </summary>
/// <remarks>
/// Element (o, i) of the weight dequantizes to scales[g_idx[i], o] · (q[i, o] − z[g_idx[i], o]) with
/// z = stored field + 1 under <see cref="GptqZeroConvention.V1"/> and z = stored field under
/// <see cref="GptqZeroConvention.V2"/>. Create one from a <see cref="QuantizedTensor"/> with
/// <see cref="GptqPacker.Pack"/>; write the arrays as tensors <c>&lt;module&gt;.qweight</c>, <c>.qzeros</c>, <c>.scales</c>
/// and <c>.g_idx</c> (little-endian, the shapes given by the <c>…Shape</c> properties).
/// </remarks>
public sealed class GptqPackedLayer
{
    private readonly int[] _qweight;
    private readonly int[] _qzeros;
    private readonly Half[] _scales;
    private readonly int[] _gIdx;

    /// <summary>Creates a layer from checkpoint arrays (e.g. read from a file), validating shapes and ranges.</summary>
    /// <param name="bits">Bits per code: 2, 3, 4 or 8.</param>
    /// <param name="groupSize">Input columns per group, or <see langword="null"/> for one group (the file's <c>group_size: -1</c>).</param>
    /// <param name="symmetric">The configuration's <c>sym</c>.</param>
    /// <param name="convention">How <paramref name="qzeros"/> stores zero-points.</param>
    /// <param name="inFeatures">Input channels; a positive multiple of 32.</param>
    /// <param name="outFeatures">Output channels; a positive multiple of 32.</param>
    /// <param name="qweight">[in·b/32, out] packed codes; used as is, not copied.</param>
    /// <param name="qzeros">[G, out·b/32] packed zero fields; used as is, not copied.</param>
    /// <param name="scales">[G, out] positive finite scales; used as is, not copied.</param>
    /// <param name="gIdx">[in] group of each input column, in [0, G); used as is, not copied.</param>
    /// <exception cref="ArgumentException">A width, shape, length, scale or group index breaks the rules above.</exception>
    public GptqPackedLayer(
        int bits,
        int? groupSize,
        bool symmetric,
        GptqZeroConvention convention,
        int inFeatures,
        int outFeatures,
        int[] qweight,
        int[] qzeros,
        Half[] scales,
        int[] gIdx)
        : this(bits, groupSize, symmetric, convention, inFeatures, outFeatures, qweight, qzeros, scales, gIdx, scalesRounded: false)
    {
        ArgumentNullException.ThrowIfNull(qweight);
        ArgumentNullException.ThrowIfNull(qzeros);
        ArgumentNullException.ThrowIfNull(scales);
        ArgumentNullException.ThrowIfNull(gIdx);
        if (!GptqBitPacking.IsSupported(bits))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(bits), bits, "GPTQ checkpoints use 2, 3, 4 or 8 bits.");
        }

        if (groupSize is <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(groupSize), groupSize, "Group size must be positive; use null for one group.");
        }

        if (!Enum.IsDefined(convention))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(convention), convention, "Unknown GPTQ zero convention.");
        }

        if (inFeatures <= 0 || inFeatures % 32 != 0)
        {
            ThrowHelper.ThrowArgument(nameof(inFeatures), $"Input features must be a positive multiple of 32, got {inFeatures}.");
        }

        if (outFeatures <= 0 || outFeatures % 32 != 0)
        {
            ThrowHelper.ThrowArgument(nameof(outFeatures), $"Output features must be a positive multiple of 32, got {outFeatures}.");
        }

        CheckLength(qweight.Length, QWeightShape, nameof(qweight));
        CheckLength(qzeros.Length, QZerosShape, nameof(qzeros));
        CheckLength(scales.Length, ScalesShape, nameof(scales));
        if (gIdx.Length != inFeatures)
        {
            ThrowHelper.ThrowArgument(nameof(gIdx), $"Expected {inFeatures} g_idx entries, got {gIdx.Length}.");
        }

        for (int j = 0; j < gIdx.Length; j++)
        {
            if ((uint)gIdx[j] >= (uint)GroupCount)
            {
                ThrowHelper.ThrowArgument(nameof(gIdx), $"g_idx[{j}] = {gIdx[j]} is outside [0, {GroupCount}).");
            }
        }

        for (int i = 0; i < scales.Length; i++)
        {
            if (!(scales[i] > Half.Zero && Half.IsFinite(scales[i])))
            {
                ThrowHelper.ThrowArgument(nameof(scales), $"Scale [{i / outFeatures}, {i % outFeatures}] is {scales[i]}; scales must be positive and finite.");
            }
        }
    }

    internal GptqPackedLayer(
        int bits,
        int? groupSize,
        bool symmetric,
        GptqZeroConvention convention,
        int inFeatures,
        int outFeatures,
        int[] qweight,
        int[] qzeros,
        Half[] scales,
        int[] gIdx,
        bool scalesRounded)
    {
        Bits = bits;
        GroupSize = groupSize;
        Symmetric = symmetric;
        Convention = convention;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        GroupCount = inFeatures > 0 && GroupWidth > 0 ? (inFeatures + GroupWidth - 1) / GroupWidth : 0;
        ScalesRounded = scalesRounded;
        _qweight = qweight;
        _qzeros = qzeros;
        _scales = scales;
        _gIdx = gIdx;
    }

    /// <summary>Bits per code (2, 3, 4 or 8).</summary>
    public int Bits { get; }

    /// <summary>Input columns per group, or <see langword="null"/> for one group (serialised as <c>group_size: -1</c>).</summary>
    public int? GroupSize { get; }

    /// <summary>Whether the grid is symmetric (the configuration's <c>sym</c>).</summary>
    public bool Symmetric { get; }

    /// <summary>How <see cref="QZeros"/> stores zero-points.</summary>
    public GptqZeroConvention Convention { get; }

    /// <summary>The configuration's <c>checkpoint_format</c> for <see cref="Convention"/>: "gptq" or "gptq_v2".</summary>
    public string CheckpointFormat => Convention.ToCheckpointFormat();

    /// <summary>Input channels (in).</summary>
    public int InFeatures { get; }

    /// <summary>Output channels (out).</summary>
    public int OutFeatures { get; }

    /// <summary>Groups G = ceil(in / group size), 1 without groups.</summary>
    public int GroupCount { get; }

    /// <summary>Codes packed along the input dimension, row-major [in·b/32, out] (see <see cref="QWeightShape"/>).</summary>
    public ReadOnlyMemory<int> QWeight => _qweight;

    /// <summary>The shape of <see cref="QWeight"/>: (in·b/32, out).</summary>
    public (int Rows, int Columns) QWeightShape => (InFeatures / 32 * Bits, OutFeatures);

    /// <summary>Zero fields packed along the output dimension, row-major [G, out·b/32] (see <see cref="QZerosShape"/>).</summary>
    public ReadOnlyMemory<int> QZeros => _qzeros;

    /// <summary>The shape of <see cref="QZeros"/>: (G, out·b/32).</summary>
    public (int Rows, int Columns) QZerosShape => (GroupCount, OutFeatures / 32 * Bits);

    /// <summary>Per-group scales in fp16, row-major [G, out].</summary>
    public ReadOnlyMemory<Half> Scales => _scales;

    /// <summary>The shape of <see cref="Scales"/>: (G, out).</summary>
    public (int Rows, int Columns) ScalesShape => (GroupCount, OutFeatures);

    /// <summary>The group of each input column, [in].</summary>
    public ReadOnlyMemory<int> GIdx => _gIdx;

    /// <summary>
    /// Whether <see cref="GIdx"/> differs from the identity-derived i / group size, i.e. act-order with dynamic groups
    /// (the configuration's <c>desc_act</c>).
    /// </summary>
    public bool DescAct => !GptqGroupIndex.IsIdentity(_gIdx, GroupWidth);

    /// <summary>
    /// Whether packing changed any scale by rounding it to fp16 (the source scales were not fp16-representable). When
    /// false, <see cref="Dequantize(Span{float})"/> reproduces the source tensor's dequantization exactly.
    /// </summary>
    public bool ScalesRounded { get; }

    private int GroupWidth => GroupSize ?? Math.Max(InFeatures, 1);

    /// <summary>Writes the dequantized weights [out, in], row-major in the original column order, computed as a loader does.</summary>
    /// <param name="destination">Receives out × in floats.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public void Dequantize(Span<float> destination)
    {
        long count = (long)OutFeatures * InFeatures;
        if (destination.Length < count)
        {
            ThrowHelper.ThrowDestinationTooShort(nameof(destination), count, destination.Length);
        }

        (byte[] codes, float[] scales, float[] zeros) = UnpackValues();

        bool contiguousGroups = !DescAct;
        int width = GroupWidth;
        for (int o = 0; o < OutFeatures; o++)
        {
            var row = destination.Slice(o * InFeatures, InFeatures);
            var rowCodes = codes.AsSpan(o * InFeatures, InFeatures);
            var rowScales = scales.AsSpan(o * GroupCount, GroupCount);
            var rowZeros = zeros.AsSpan(o * GroupCount, GroupCount);
            if (contiguousGroups)
            {
                // g_idx = i / width: whole groups through the SIMD kernel (same operations as the element loop).
                for (int g = 0, start = 0; start < InFeatures; g++, start += width)
                {
                    int len = Math.Min(width, InFeatures - start);
                    CpuKernels.DequantizeAffine(rowCodes.Slice(start, len), rowScales[g], rowZeros[g], row.Slice(start, len));
                }

                continue;
            }

            for (int i = 0; i < InFeatures; i++)
            {
                int g = _gIdx[i];
                row[i] = rowScales[g] * (rowCodes[i] - rowZeros[g]);
            }
        }
    }

    /// <summary>The dequantized weights [out, in] as a new matrix.</summary>
    public DenseMatrix Dequantize()
    {
        var m = DenseMatrix.Create(OutFeatures, InFeatures);
        Dequantize(m.Data.Span);
        return m;
    }

    /// <summary>
    /// Unpacks into a <see cref="QuantizedTensor"/> (rows = out, columns = in): codes, fp16 scales widened to float, integer
    /// zeros z (stored field plus the convention's offset), and the group index (empty when g_idx is identity-derived).
    /// </summary>
    /// <param name="diagnostics">Diagnostics to attach, or <see langword="null"/> for none recorded.</param>
    public QuantizedTensor Unpack(QuantizationDiagnostics? diagnostics = null)
    {
        (byte[] codes, float[] scales, float[] zeros) = UnpackValues();
        int[] groupIndex = DescAct ? (int[])_gIdx.Clone() : [];
        var scheme = new QuantizationScheme(Bits, GroupSize, Symmetric);
        return new QuantizedTensor(scheme, OutFeatures, InFeatures, codes, scales, zeros, groupIndex, inputTransform: null, diagnostics);
    }

    /// <summary>
    /// Unpacks the codes [out, in] and widens the fp16 scales and the zero fields (plus the convention's offset) to float,
    /// transposed to [out, G] so that a row's scales and zeros are contiguous.
    /// </summary>
    private (byte[] Codes, float[] Scales, float[] Zeros) UnpackValues()
    {
        byte[] codes = GptqBitPacking.UnpackQWeight(_qweight, OutFeatures, InFeatures, Bits);
        byte[] fields = GptqBitPacking.UnpackAlongColumns(_qzeros, GroupCount, OutFeatures, Bits);
        int offset = Convention.ZeroOffset();
        var scales = new float[OutFeatures * GroupCount];
        var zeros = new float[scales.Length];
        for (int g = 0; g < GroupCount; g++)
        {
            for (int o = 0; o < OutFeatures; o++)
            {
                scales[(o * GroupCount) + g] = (float)_scales[(g * OutFeatures) + o];
                zeros[(o * GroupCount) + g] = fields[(g * OutFeatures) + o] + offset;
            }
        }

        return (codes, scales, zeros);
    }

    private static void CheckLength(int actual, (int Rows, int Columns) shape, string paramName)
    {
        if (actual != (long)shape.Rows * shape.Columns)
        {
            ThrowHelper.ThrowArgument(paramName, $"Expected [{shape.Rows}, {shape.Columns}] = {(long)shape.Rows * shape.Columns} elements, got {actual}.");
        }
    }
}
