using CsCheck;
using LowBitQuant.Formats.Gptq;

namespace LowBitQuant.Tests.Formats.Gptq;

public class GptqPackerTests
{
    public static TheoryData<int, int, int, int?, bool> Shapes()
    {
        var data = new TheoryData<int, int, int, int?, bool>();
        (int Rows, int Columns, int? Group)[] shapes = [(32, 32, null), (32, 64, 32), (64, 96, 64), (96, 256, 128), (32, 128, 256), (64, 160, 48)];
        foreach (int bits in new[] { 2, 3, 4, 8 })
        {
            foreach (var (rows, columns, group) in shapes)
            {
                data.Add(bits, rows, columns, group, bits % 2 == 0);
                data.Add(bits, rows, columns, group, bits % 2 != 0);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PackUnpackRoundTripsAndDequantizesExactly(int bits, int rows, int columns, int? groupSize, bool symmetric)
    {
        var tensor = GptqTestTensors.Random(bits, rows, columns, groupSize, symmetric, seed: (bits * 7919) + (rows * 31) + columns, minZero: 1);
        var layer = GptqPacker.Pack(tensor);

        int groups = tensor.GroupCount;
        Assert.Equal(GptqZeroConvention.V1, layer.Convention);
        Assert.Equal((columns * bits / 32, rows), layer.QWeightShape);
        Assert.Equal((groups, rows * bits / 32), layer.QZerosShape);
        Assert.Equal((groups, rows), layer.ScalesShape);
        Assert.Equal(layer.QWeightShape.Rows * layer.QWeightShape.Columns, layer.QWeight.Length);
        Assert.Equal(layer.QZerosShape.Rows * layer.QZerosShape.Columns, layer.QZeros.Length);
        Assert.False(layer.ScalesRounded);
        Assert.False(layer.DescAct);

        // Packed arrays match the plain reference packer over the source codes and the v1 fields z − 1.
        Assert.Equal(ReferenceGptqPacking.PackQWeight(tensor.Codes.ToArray(), rows, columns, bits), layer.QWeight.ToArray());
        var fields = new int[groups * rows];
        for (int o = 0; o < rows; o++)
        {
            for (int g = 0; g < groups; g++)
            {
                fields[(g * rows) + o] = (int)tensor.Zeros.Span[(o * groups) + g] - 1;
                Assert.Equal(tensor.Scales.Span[(o * groups) + g], (float)layer.Scales.Span[(g * rows) + o]);
            }
        }

        Assert.Equal(ReferenceGptqPacking.PackAlongColumns(fields, groups, rows, bits), layer.QZeros.ToArray());
        int width = groupSize ?? columns;
        Assert.Equal(Enumerable.Range(0, columns).Select(j => j / width), layer.GIdx.ToArray());

        var back = layer.Unpack();
        Assert.Equal(tensor.Scheme, back.Scheme);
        Assert.Equal(tensor.Codes.ToArray(), back.Codes.ToArray());
        Assert.Equal(tensor.Scales.ToArray(), back.Scales.ToArray());
        Assert.Equal(tensor.Zeros.ToArray(), back.Zeros.ToArray());
        Assert.True(back.GroupIndex.IsEmpty);

        AssertBitwiseEqual(tensor.Dequantize().Data.ToArray(), layer.Dequantize().Data.ToArray());
    }

    [Fact]
    public void RandomTensorsRoundTripThroughPackAndUnpack() =>
        (from bits in Gen.OneOf(2, 3, 4, 8)
         from rows in Gen.Int[1, 3]
         from runs in Gen.Int[1, 4]
         from groupSize in Gen.OneOf<int?>(null, 16, 32, 48, 64, 1000)
         from symmetric in Gen.Bool
         from seed in Gen.Int
         select (bits, rows * 32, runs * 32, groupSize, symmetric, seed)).Sample(
            (bits, rows, columns, groupSize, symmetric, seed) =>
            {
                var tensor = GptqTestTensors.Random(bits, rows, columns, groupSize, symmetric, seed);
                var layer = GptqPacker.Pack(tensor);
                Assert.Equal(GptqPacker.SelectConvention(tensor), layer.Convention);
                var back = layer.Unpack();
                Assert.Equal(tensor.Codes.ToArray(), back.Codes.ToArray());
                Assert.Equal(tensor.Scales.ToArray(), back.Scales.ToArray());
                Assert.Equal(tensor.Zeros.ToArray(), back.Zeros.ToArray());
                AssertBitwiseEqual(tensor.Dequantize().Data.ToArray(), layer.Dequantize().Data.ToArray());
            },
            iter: 100);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void V2RoundTripsZerosIncludingZero(int bits)
    {
        var tensor = GptqTestTensors.Random(bits, 64, 128, 32, symmetric: false, seed: bits, minZero: 0);
        var zeros = tensor.Zeros.ToArray();
        zeros[5] = 0;
        zeros[^1] = tensor.Scheme.MaxCode;
        tensor = GptqTestTensors.WithZeros(tensor, zeros);

        var layer = GptqPacker.Pack(tensor);
        Assert.Equal(GptqZeroConvention.V2, layer.Convention);
        Assert.Equal("gptq_v2", layer.CheckpointFormat);
        var back = layer.Unpack();
        Assert.Equal(zeros, back.Zeros.ToArray());
        AssertBitwiseEqual(tensor.Dequantize().Data.ToArray(), layer.Dequantize().Data.ToArray());
    }

    [Fact]
    public void DequantizationExampleFromTheSpec()
    {
        // 4-bit v1: scale 0x211F, stored zero field 7 (z = 8), code 3 → 0.01000213623046875 · (3 − 8).
        const float Expected = -0.05001068115234375f;
        var scale = BitConverter.UInt16BitsToHalf(0x211F);
        Assert.Equal(0.01000213623046875f, (float)scale);

        var layer = new GptqPackedLayer(
            bits: 4,
            groupSize: 32,
            symmetric: true,
            GptqZeroConvention.V1,
            inFeatures: 32,
            outFeatures: 32,
            qweight: Enumerable.Repeat(0x33333333, 4 * 32).ToArray(),
            qzeros: Enumerable.Repeat(0x77777777, 4).ToArray(),
            scales: Enumerable.Repeat(scale, 32).ToArray(),
            gIdx: new int[32]);
        Assert.All(layer.Dequantize().Data.ToArray(), w => Assert.Equal(Expected, w));

        // The same weights packed from a QuantizedTensor give the same words and values.
        var scheme = new QuantizationScheme(4, 32, symmetric: true);
        var tensor = new QuantizedTensor(scheme, 32, 32, Enumerable.Repeat((byte)3, 32 * 32).ToArray(), Enumerable.Repeat((float)scale, 32).ToArray(), Enumerable.Repeat(8f, 32).ToArray());
        var packed = GptqPacker.Pack(tensor);
        Assert.Equal(layer.QWeight.ToArray(), packed.QWeight.ToArray());
        Assert.Equal(layer.QZeros.ToArray(), packed.QZeros.ToArray());
        Assert.All(packed.Scales.ToArray(), s => Assert.Equal((ushort)0x211F, BitConverter.HalfToUInt16Bits(s)));
        Assert.All(packed.Dequantize().Data.ToArray(), w => Assert.Equal(Expected, w));
    }

    [Theory]
    [InlineData(2, GptqZeroConvention.V1, 0x55555555u)]
    [InlineData(4, GptqZeroConvention.V1, 0x77777777u)]
    [InlineData(8, GptqZeroConvention.V1, 0x7F7F7F7Fu)]
    [InlineData(2, GptqZeroConvention.V2, 0xAAAAAAAAu)]
    [InlineData(4, GptqZeroConvention.V2, 0x88888888u)]
    [InlineData(8, GptqZeroConvention.V2, 0x80808080u)]
    [InlineData(3, GptqZeroConvention.V1, 0xDB6DB6DBu, 0xB6DB6DB6u, 0x6DB6DB6Du)]
    [InlineData(3, GptqZeroConvention.V2, 0x24924924u, 0x49249249u, 0x92492492u)]
    public void SymmetricZerosPackToTheDocumentedWords(int bits, GptqZeroConvention convention, params uint[] pattern)
    {
        var tensor = GptqTestTensors.Random(bits, 64, 64, 32, symmetric: true, seed: 11);
        if (convention == GptqZeroConvention.V1)
        {
            Assert.Equal(GptqZeroConvention.V1, GptqPacker.SelectConvention(tensor));
        }

        var layer = GptqPacker.Pack(tensor, convention);
        Assert.Equal(convention, layer.Convention);
        var words = layer.QZeros.ToArray();
        Assert.Equal(2 * 64 * bits / 32, words.Length);
        for (int i = 0; i < words.Length; i++)
        {
            Assert.Equal(pattern[i % bits % pattern.Length], unchecked((uint)words[i]));
        }
    }

    [Fact]
    public void SymmetricFourBitDefaultsToV1With0x77777777()
    {
        var layer = GptqPacker.Pack(GptqTestTensors.Random(4, 32, 256, 128, symmetric: true, seed: 3));
        Assert.Equal(GptqZeroConvention.V1, layer.Convention);
        Assert.Equal("gptq", layer.CheckpointFormat);
        Assert.All(layer.QZeros.ToArray(), w => Assert.Equal(2004318071, w));
    }

    [Fact]
    public void AsymmetricWithAllZerosAtLeastOneIsV1()
    {
        var tensor = GptqTestTensors.Random(3, 32, 64, 32, symmetric: false, seed: 5, minZero: 1);
        Assert.Equal(GptqZeroConvention.V1, GptqPacker.SelectConvention(tensor));
        Assert.Equal(GptqZeroConvention.V1, GptqPacker.Pack(tensor).Convention);
    }

    [Fact]
    public void AsymmetricWithAZeroOfZeroIsV2AndNeverUnderflowsANeighbour()
    {
        // 4-bit, one group: zeros 1 everywhere except output 5 → 0. Under v2 the word holding outputs 0–7 must read
        // 0x11011111 exactly; a v1 underflow would have put 0xF (or a borrow) into field 5 or its neighbours.
        var tensor = GptqTestTensors.Random(4, 32, 32, null, symmetric: false, seed: 9);
        var zeros = Enumerable.Repeat(1f, 32).ToArray();
        zeros[5] = 0;
        tensor = GptqTestTensors.WithZeros(tensor, zeros);

        Assert.Equal(GptqZeroConvention.V2, GptqPacker.SelectConvention(tensor));
        var layer = GptqPacker.Pack(tensor);
        Assert.Equal("gptq_v2", layer.CheckpointFormat);
        Assert.Equal([0x11011111, 0x11111111, 0x11111111, 0x11111111], layer.QZeros.ToArray());
        Assert.Equal(zeros, layer.Unpack().Zeros.ToArray());
    }

    [Fact]
    public void ExplicitV1WithAZeroOfZeroIsRefused()
    {
        var tensor = GptqTestTensors.Random(4, 32, 64, 32, symmetric: false, seed: 13, minZero: 1);
        var zeros = tensor.Zeros.ToArray();
        zeros[3] = 0;
        tensor = GptqTestTensors.WithZeros(tensor, zeros);

        var ex = Assert.Throws<ArgumentException>(() => GptqPacker.Pack(tensor, GptqZeroConvention.V1));
        Assert.Equal("convention", ex.ParamName);
        Assert.Contains("[1, 1]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("gptq_v2", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(64, 172, "columns")]
    [InlineData(172, 64, "rows")]
    public void ChannelCountsThatAreNotMultiplesOf32AreRejectedNamingTheCount(int rows, int columns, string which)
    {
        var tensor = GptqTestTensors.Random(4, rows, columns, 32, symmetric: true, seed: 17);
        Assert.False(GptqPacker.CanPack(tensor, out string? reason));
        Assert.Contains("172", reason, StringComparison.Ordinal);
        Assert.Contains(which, reason, StringComparison.Ordinal);

        var ex = Assert.Throws<ArgumentException>(() => GptqPacker.Pack(tensor));
        Assert.Equal("tensor", ex.ParamName);
        Assert.Contains("172", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealValuedZerosAreRejected()
    {
        var tensor = GptqTestTensors.Random(4, 32, 32, null, symmetric: false, seed: 19, minZero: 1);
        var zeros = tensor.Zeros.ToArray();
        zeros[7] = 3.25f;
        Assert.False(GptqPacker.CanPack(GptqTestTensors.WithZeros(tensor, zeros), out string? reason));
        Assert.Contains("3.25", reason, StringComparison.Ordinal);
        Assert.Contains("not an integer", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1f)]
    [InlineData(16f)]
    public void ZerosOutsideTheFieldRangeAreRejected(float zero)
    {
        var tensor = GptqTestTensors.Random(4, 32, 32, null, symmetric: false, seed: 23, minZero: 1);
        var zeros = tensor.Zeros.ToArray();
        zeros[0] = zero;
        Assert.False(GptqPacker.CanPack(GptqTestTensors.WithZeros(tensor, zeros), out string? reason));
        Assert.Contains("[0, 15]", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void UnsupportedWidthsAreRejected(int bits)
    {
        var tensor = GptqTestTensors.Random(bits, 32, 32, null, symmetric: true, seed: 29);
        Assert.False(GptqPacker.CanPack(tensor, out string? reason));
        Assert.Contains($"{bits} bits", reason, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => GptqPacker.Pack(tensor));
    }

    [Fact]
    public void AnInputTransformIsRejectedPointingAtFolding()
    {
        var plain = GptqTestTensors.Random(4, 32, 32, null, symmetric: true, seed: 31);
        var transform = new InputTransform(Enumerable.Repeat(2f, 32).ToArray(), rotation: null);
        var tensor = new QuantizedTensor(plain.Scheme, 32, 32, plain.Codes.ToArray(), plain.Scales.ToArray(), plain.Zeros.ToArray(), inputTransform: transform);
        Assert.False(GptqPacker.CanPack(tensor, out string? reason));
        Assert.Contains("input transform", reason, StringComparison.Ordinal);
        Assert.Contains("Fold", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(70000f, "overflows")]
    [InlineData(1e-9f, "underflows")]
    public void ScalesOutsideFp16AreRejected(float scale, string word)
    {
        var tensor = GptqTestTensors.Random(4, 32, 32, null, symmetric: true, seed: 37);
        var scales = tensor.Scales.ToArray();
        scales[2] = scale;
        Assert.False(GptqPacker.CanPack(GptqTestTensors.WithScales(tensor, scales), out string? reason));
        Assert.Contains(word, reason, StringComparison.Ordinal);
        Assert.Contains("[2, 0]", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PackableTensorsHaveNoReason()
    {
        Assert.True(GptqPacker.CanPack(GptqTestTensors.Random(3, 64, 96, 32, symmetric: false, seed: 41), out string? reason));
        Assert.Null(reason);
    }

    [Fact]
    public void NonFp16ScalesAreRoundedAndFlagged()
    {
        var tensor = GptqTestTensors.Random(4, 32, 64, 32, symmetric: true, seed: 43, fp16Scales: false);
        var layer = GptqPacker.Pack(tensor);
        Assert.True(layer.ScalesRounded);

        // The packed layer dequantizes with the fp16-rounded scales, exactly like the source tensor with rounded scales.
        var rounded = GptqTestTensors.WithScales(tensor, tensor.Scales.ToArray().Select(s => (float)(Half)s).ToArray());
        AssertBitwiseEqual(rounded.Dequantize().Data.ToArray(), layer.Dequantize().Data.ToArray());
        Assert.Equal(rounded.Scales.ToArray(), layer.Unpack().Scales.ToArray());
    }

    [Fact]
    public void ActOrderWorkedExampleGivesTheDocumentedGroupIndex()
    {
        int[] perm = [5, 2, 7, 0, 1, 3, 6, 4];
        Assert.Equal([0, 1, 0, 1, 1, 0, 1, 0], GptqGroupIndex.FromActOrder(perm, 4));
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], GptqGroupIndex.Identity(8, 4));
        Assert.False(GptqGroupIndex.IsIdentity([0, 1, 0, 1, 1, 0, 1, 0], 4));
        Assert.True(GptqGroupIndex.IsIdentity([0, 0, 0, 0, 1, 1, 1, 1], 4));
        Assert.Throws<ArgumentException>(() => GptqGroupIndex.FromActOrder([0, 0, 1], 2));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void ActOrderGroupIndexSurvivesPackAndUnpack(int bits)
    {
        // The worked example's permutation, repeated in each block of 8 and blocks reversed, over 64 columns, g = 16.
        int[] basePerm = [5, 2, 7, 0, 1, 3, 6, 4];
        var perm = Enumerable.Range(0, 64).Select(k => (8 * (7 - (k / 8))) + basePerm[k % 8]).ToArray();
        var gIdx = GptqGroupIndex.FromActOrder(perm, 16);
        var tensor = GptqTestTensors.Random(bits, 32, 64, 16, symmetric: false, seed: 47, minZero: 0, groupIndex: gIdx);

        var layer = GptqPacker.Pack(tensor);
        Assert.True(layer.DescAct);
        Assert.Equal(gIdx, layer.GIdx.ToArray());
        var back = layer.Unpack();
        Assert.Equal(gIdx, back.GroupIndex.ToArray());
        Assert.Equal(tensor.Codes.ToArray(), back.Codes.ToArray());
        AssertBitwiseEqual(tensor.Dequantize().Data.ToArray(), layer.Dequantize().Data.ToArray());
        Assert.True(GptqQuantizeConfig.FromLayers([layer]).DescAct);
    }

    [Fact]
    public void AnExplicitIdentityGroupIndexIsNotActOrder()
    {
        var tensor = GptqTestTensors.Random(4, 32, 64, 32, symmetric: true, seed: 53, groupIndex: GptqGroupIndex.Identity(64, 32));
        var layer = GptqPacker.Pack(tensor);
        Assert.False(layer.DescAct);
        Assert.True(layer.Unpack().GroupIndex.IsEmpty);
    }

    [Fact]
    public void NoGroupsMeansOneGroupAndAllZeroGroupIndex()
    {
        var layer = GptqPacker.Pack(GptqTestTensors.Random(2, 32, 96, null, symmetric: true, seed: 59));
        Assert.Equal(1, layer.GroupCount);
        Assert.Null(layer.GroupSize);
        Assert.All(layer.GIdx.ToArray(), g => Assert.Equal(0, g));
    }

    [Fact]
    public void PackedLayerConstructorValidatesItsArrays()
    {
        Half one = Half.One;
        GptqPackedLayer Make(int[]? qweight = null, int[]? qzeros = null, Half[]? scales = null, int[]? gIdx = null, int inFeatures = 32) =>
            new(4, 32, true, GptqZeroConvention.V1, inFeatures, 32, qweight ?? new int[4 * 32], qzeros ?? new int[4], scales ?? Enumerable.Repeat(one, 32).ToArray(), gIdx ?? new int[32]);

        Assert.Equal("qweight", Assert.Throws<ArgumentException>(() => Make(qweight: new int[5])).ParamName);
        Assert.Equal("qzeros", Assert.Throws<ArgumentException>(() => Make(qzeros: new int[3])).ParamName);
        Assert.Equal("scales", Assert.Throws<ArgumentException>(() => Make(scales: new Half[32])).ParamName);
        Assert.Equal("gIdx", Assert.Throws<ArgumentException>(() => Make(gIdx: Enumerable.Repeat(1, 32).ToArray())).ParamName);
        Assert.Equal("inFeatures", Assert.Throws<ArgumentException>(() => Make(inFeatures: 172)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GptqPackedLayer(5, 32, true, GptqZeroConvention.V1, 32, 32, new int[160], new int[5], new Half[32], new int[32]));
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"Element {i}: expected {expected[i]:R}, got {actual[i]:R}.");
            }
        }
    }
}
