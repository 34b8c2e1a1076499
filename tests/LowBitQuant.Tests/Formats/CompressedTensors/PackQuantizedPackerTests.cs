using CsCheck;
using LowBitQuant.Formats.CompressedTensors;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats.CompressedTensors;

public class PackQuantizedPackerTests
{
    /// <summary>A random tensor with F16-exact scales (multiples of 2^−10 in [2^−10, 1]) and integer zeros.</summary>
    private static QuantizedTensor RandomTensor(int bits, int? groupSize, int rows, int columns, int seed, bool symmetric, bool shuffledGroups = false)
    {
        var scheme = new QuantizationScheme(bits, groupSize, symmetric);
        int groups = scheme.GroupCount(columns);
        var rng = new Random(seed);
        var codes = new byte[rows * columns];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (byte)rng.Next(1 << bits);
        }

        var scales = new float[rows * groups];
        var zeros = new float[rows * groups];
        for (int i = 0; i < scales.Length; i++)
        {
            scales[i] = rng.Next(1, 1025) / 1024f;
            zeros[i] = symmetric ? scheme.SymmetricZero : rng.Next(1 << bits);
        }

        int[]? gIdx = null;
        if (shuffledGroups)
        {
            int width = scheme.GroupWidth(columns);
            gIdx = Enumerable.Range(0, columns).Select(j => j / width).OrderBy(_ => rng.Next()).ToArray();
        }

        return new QuantizedTensor(scheme, rows, columns, codes, scales, zeros, gIdx);
    }

    [Fact]
    public void PackUnpackRoundTripsEveryPartForAnyWidthAndShape()
    {
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 9], Gen.Int[1, 6], Gen.Int[0, 2], Gen.Bool, Gen.Int).Sample((bits, rows, groupsPerRow, groupKind, symmetric, seed) =>
        {
            // groupKind: 0 channel, 1 group of 43 (in = 43·G, never a multiple of f for b ≥ 2), 2 shuffled g_idx.
            int? groupSize = groupKind == 0 ? null : 43;
            int columns = groupKind == 0 ? 172 : 43 * groupsPerRow;
            var t = RandomTensor(bits, groupSize, rows, columns, seed, symmetric, shuffledGroups: groupKind == 2);
            var layer = PackQuantizedPacker.Pack(t);
            var back = layer.Unpack();

            return back.Codes.Span.SequenceEqual(t.Codes.Span)
                && back.Scales.Span.SequenceEqual(t.Scales.Span)
                && back.Zeros.Span.SequenceEqual(t.Zeros.Span)
                && Enumerable.Range(0, columns).All(j => back.GroupOf(j) == t.GroupOf(j))
                && back.Scheme.Bits == bits && back.Scheme.GroupSize == groupSize
                // Symmetry is detected from the values: random asymmetric zeros can all land on 2^(b−1) in a tiny tensor.
                && layer.Symmetric == (symmetric || t.Zeros.ToArray().All(z => z == t.Scheme.SymmetricZero))
                && layer.HasGroupIndex == Enumerable.Range(0, columns).Any(j => t.GroupOf(j) != j / t.Scheme.GroupWidth(columns)) // trivial g_idx is not stored
                && layer.WeightPacked.ToArray().SequenceEqual(ReferencePackQuantized.PackRows(t.Codes.ToArray().Select(c => (int)c).ToArray(), rows, columns, bits));
        });
    }

    [Fact]
    public void WorkedExampleThroughTheLayer()
    {
        var scheme = new QuantizationScheme(4, null, symmetric: true);
        var codes = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var layer = PackQuantizedPacker.Pack(new QuantizedTensor(scheme, 1, 16, codes, [0.5f], [8f]));
        Assert.Equal(new[] { 0x76543210, unchecked((int)0xFEDCBA98) }, layer.WeightPacked.ToArray());
        Assert.Equal(new[] { 1, 2 }, layer.WeightPackedShape);
        Assert.Equal(new[] { 1, 16 }, layer.WeightShape);
        Assert.Equal(new[] { 1, 1 }, layer.WeightScaleShape);
        Assert.True(layer.Symmetric);
        Assert.Null(layer.WeightZeroPointShape);
        Assert.True(layer.WeightZeroPoint.IsEmpty);
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)0.5f), layer.WeightScale.Span[0]);
        Assert.Equal("F16", layer.ScaleSafetensorsDType);
    }

    [Theory]
    [InlineData(4, 11, 64, 16)] // f = 8: out = 11 → 2 words, the second half padding
    [InlineData(3, 23, 30, 10)] // f = 10: 3 words, the last holding 3 fields
    [InlineData(8, 5, 12, 4)]
    [InlineData(2, 16, 8, null)]
    public void AsymmetricZeroPointsArePackedAlongTheOutputDimension(int bits, int rows, int columns, int? groupSize)
    {
        var t = RandomTensor(bits, groupSize, rows, columns, seed: rows + columns, symmetric: false);
        var layer = PackQuantizedPacker.Pack(t);
        int f = 32 / bits;
        int groups = groupSize is int g ? columns / g : 1;
        Assert.False(layer.Symmetric);
        Assert.Equal(new[] { (rows + f - 1) / f, groups }, layer.WeightZeroPointShape);

        var zeros = t.Zeros.ToArray().Select(z => (int)z).ToArray();
        Assert.Equal(ReferencePackQuantized.PackDim0(zeros, rows, groups, bits), layer.WeightZeroPoint.ToArray());

        // Zero [o, g] sits in word [o / f, g] at bits b·(o % f).
        var words = layer.WeightZeroPoint.ToArray();
        for (int o = 0; o < rows; o++)
        {
            for (int c = 0; c < groups; c++)
            {
                uint word = (uint)words[((o / f) * groups) + c];
                Assert.Equal(zeros[(o * groups) + c], (int)((word >> (bits * (o % f))) & ((1u << bits) - 1)));
            }
        }

        Assert.Equal(zeros, layer.GetZeroPoints());
    }

    [Theory]
    [InlineData(2, 86)]
    [InlineData(3, 4)]
    [InlineData(4, null)]
    [InlineData(8, 43)]
    public void SymmetricRtnResultDequantizesIdenticallyThroughThePackedForm(int bits, int? groupSize)
    {
        const int Rows = 7, Columns = 172;
        var w = TestData.Normal(Rows * Columns, seed: bits);
        var q = new RtnQuantizer(new QuantizationScheme(bits, groupSize, symmetric: true)).Quantize(new DenseMatrix(w, Rows, Columns));

        // The format stores F16 scales; use a result whose scales are already F16 so dequantization must be bit-identical.
        var f16Scales = q.Scales.ToArray().Select(s => (float)(Half)s).ToArray();
        var t = new QuantizedTensor(q.Scheme, Rows, Columns, q.Codes.ToArray(), f16Scales, q.Zeros.ToArray());
        var layer = PackQuantizedPacker.Pack(t);
        Assert.True(layer.Symmetric);
        Assert.Equal(t.Dequantize().Data.ToArray(), layer.Unpack().Dequantize().Data.ToArray());

        // Codes are written unchanged (stored field = our q).
        Assert.Equal(t.Codes.ToArray(), layer.GetCodes());
    }

    [Fact]
    public void ScalesAreRoundedToTheChosenDtype()
    {
        var t = RandomTensor(4, 16, 3, 32, seed: 5, symmetric: true);
        var scales = t.Scales.ToArray();
        scales[0] = 0.1f;
        scales[1] = 1234.567f;
        t = new QuantizedTensor(t.Scheme, 3, 32, t.Codes.ToArray(), scales, t.Zeros.ToArray());
        var f16 = PackQuantizedPacker.Pack(t).GetScales();
        var bf16 = PackQuantizedPacker.Pack(t, new PackQuantizedOptions { ScaleType = ScaleDataType.BFloat16 });
        Assert.Equal(scales.Select(s => (float)(Half)s), f16);
        Assert.Equal("BF16", bf16.ScaleSafetensorsDType);
        for (int i = 0; i < scales.Length; i++)
        {
            Assert.Equal(ReferenceBFloat16(scales[i]), bf16.GetScales()[i]);
        }
    }

    [Fact]
    public void BFloat16EncodingRoundsToNearestEven()
    {
        Gen.Float[1e-30f, 1e30f].Sample(x => ScaleConversion.Decode(ScaleConversion.Encode(x, ScaleDataType.BFloat16), ScaleDataType.BFloat16) == ReferenceBFloat16(x));
        Assert.Equal(ReferenceBFloat16(1f + (1f / 256)), ScaleConversion.Decode(ScaleConversion.Encode(1f + (1f / 256), ScaleDataType.BFloat16), ScaleDataType.BFloat16));
        Assert.Equal(1f, ReferenceBFloat16(1f + (1f / 256))); // the tie goes to the even neighbour
    }

    /// <summary>Nearest bfloat16 (8 significant bits) by comparing the two neighbours in double; ties to even.</summary>
    private static float ReferenceBFloat16(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        float down = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
        float up = BitConverter.UInt32BitsToSingle((bits & 0xFFFF0000u) + 0x10000u);
        double dd = (double)x - down, du = (double)up - x;
        if (dd < du)
        {
            return down;
        }

        if (du < dd)
        {
            return up;
        }

        return ((BitConverter.SingleToUInt32Bits(down) >> 16) & 1) == 0 ? down : up;
    }

    [Fact]
    public void TrivialGroupIndexIsOmittedUnlessRequested()
    {
        var t = RandomTensor(4, 8, 2, 32, seed: 9, symmetric: false);
        var trivial = new QuantizedTensor(t.Scheme, 2, 32, t.Codes.ToArray(), t.Scales.ToArray(), t.Zeros.ToArray(), Enumerable.Range(0, 32).Select(j => j / 8).ToArray());
        Assert.False(PackQuantizedPacker.Pack(trivial).HasGroupIndex);
        var forced = PackQuantizedPacker.Pack(t, new PackQuantizedOptions { WriteGroupIndex = true });
        Assert.Equal(Enumerable.Range(0, 32).Select(j => j / 8), forced.WeightGroupIndex.ToArray());
    }

    [Fact]
    public void SymmetricOptionForcesOrRequiresZeroPoints()
    {
        var sym = RandomTensor(3, null, 4, 20, seed: 3, symmetric: true);
        var withZeros = PackQuantizedPacker.Pack(sym, new PackQuantizedOptions { Symmetric = false });
        Assert.False(withZeros.Symmetric);
        Assert.All(withZeros.GetZeroPoints(), z => Assert.Equal(4, z));
        Assert.Equal(sym.Dequantize().Data.ToArray(), withZeros.Unpack().Dequantize().Data.ToArray());

        var asym = RandomTensor(3, null, 4, 20, seed: 3, symmetric: false);
        Assert.False(PackQuantizedPacker.CanPack(asym, new PackQuantizedOptions { Symmetric = true }, out var reason));
        Assert.Contains("2^(b−1) = 4", reason);
    }

    [Fact]
    public void RealValuedZerosAreRejectedPointingToTheIntegerZeroVariant()
    {
        var scheme = new QuantizationScheme(4, 8);
        var t = new QuantizedTensor(scheme, 1, 16, new byte[16], [1f, 1f], [3f, 7.25f]);
        Assert.False(t.HasIntegerZeros);
        Assert.False(PackQuantizedPacker.CanPack(t, out var reason));
        Assert.Contains("[0, 1] = 7.25", reason);
        Assert.Contains("integer-zero variant", reason);
        var ex = Assert.Throws<ArgumentException>(() => PackQuantizedPacker.Pack(t));
        Assert.Equal("tensor", ex.ParamName);
        Assert.Contains("integer-zero variant", ex.Message);
    }

    [Fact]
    public void ZeroPointsOutsideTheFieldAreRejected()
    {
        var scheme = new QuantizationScheme(2, null);
        var t = new QuantizedTensor(scheme, 2, 4, new byte[8], [1f, 1f], [1f, 4f]);
        Assert.False(PackQuantizedPacker.CanPack(t, out var reason));
        Assert.Contains("[1, 0] = 4", reason);
        Assert.Contains("[0, 3]", reason);
    }

    [Fact]
    public void GroupSizeNotDividingTheInputIsRejectedNamingTheFloorDivision()
    {
        var t = RandomTensor(4, 64, 2, 172, seed: 1, symmetric: true);
        Assert.False(PackQuantizedPacker.CanPack(t, out var reason));
        Assert.Contains("Group size 64 does not divide in = 172", reason);
        Assert.Contains("in // group_size = 2", reason);
        Assert.Contains("3 groups", reason);
        Assert.Equal("tensor", Assert.Throws<ArgumentException>(() => PackQuantizedPacker.Pack(t)).ParamName);
    }

    [Fact]
    public void InputTransformIsRejected()
    {
        var t = RandomTensor(4, 4, 2, 8, seed: 2, symmetric: true);
        var transform = new InputTransform([1f, 2f, 0.5f, 4f, 1f, 1f, 0.25f, 3f], null);
        var withTransform = new QuantizedTensor(t.Scheme, 2, 8, t.Codes.ToArray(), t.Scales.ToArray(), t.Zeros.ToArray(), inputTransform: transform);
        Assert.True(PackQuantizedPacker.CanPack(t, out _));
        Assert.False(PackQuantizedPacker.CanPack(withTransform, out var reason));
        Assert.Contains("input transform", reason);
        Assert.Contains("foldable", reason);
    }

    [Theory]
    [InlineData(1e-6f, false)]
    [InlineData(1e5f, false)]
    [InlineData(1e-6f, true)]
    [InlineData(1e5f, true)]
    public void ScalesOutsideTheF16RangeAreRejectedButFitBFloat16(float scale, bool bf16)
    {
        var t = new QuantizedTensor(new QuantizationScheme(4, null), 1, 4, new byte[4], [scale], [8f]);
        var options = new PackQuantizedOptions { ScaleType = bf16 ? ScaleDataType.BFloat16 : ScaleDataType.Float16 };
        Assert.Equal(bf16, PackQuantizedPacker.CanPack(t, options, out var reason));
        if (!bf16)
        {
            Assert.Contains("not representable in F16", reason);
            Assert.Contains("BF16", reason);
        }
    }

    [Fact]
    public void NullArgumentsAreRejected()
    {
        Assert.Equal("tensor", Assert.Throws<ArgumentNullException>(() => PackQuantizedPacker.Pack(null!)).ParamName);
        Assert.Equal("tensor", Assert.Throws<ArgumentNullException>(() => PackQuantizedPacker.CanPack(null!, out _)).ParamName);
    }
}
