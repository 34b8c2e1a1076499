using CsCheck;
using LowBitQuant.Formats.Gptq;

namespace LowBitQuant.Tests.Formats.Gptq;

public class GptqBitPackingTests
{
    private static readonly Gen<int> Widths = Gen.OneOf(2, 3, 4, 8);

    private static readonly Gen<(int Bits, byte[] Values)> Runs =
        from bits in Widths
        from values in Gen.Int[0, (1 << bits) - 1].Array[32]
        select (bits, values.Select(v => (byte)v).ToArray());

    [Fact]
    public void FourBitCodesZeroToSevenPackIntoOneWord0x76543210()
    {
        var codes = new byte[32];
        for (int k = 0; k < 8; k++)
        {
            codes[k] = (byte)k;
        }

        var words = new uint[4];
        GptqBitPacking.PackRun(codes, 4, words);
        Assert.Equal(0x76543210u, words[0]);
        Assert.Equal([0u, 0u, 0u], words[1..]);
    }

    [Fact]
    public void ThreeBitCodesKMod8PackIntoThreeStraddlingWords()
    {
        var codes = Enumerable.Range(0, 32).Select(k => (byte)(k % 8)).ToArray();
        var words = new uint[3];
        GptqBitPacking.PackRun(codes, 3, words);
        Assert.Equal([0x88FAC688u, 0xC688FAC6u, 0xFAC688FAu], words);

        var back = new byte[32];
        GptqBitPacking.UnpackRun(words, 3, back);
        Assert.Equal(codes, back);
    }

    [Theory]
    [InlineData(2, 1, new uint[] { 0x55555555 })]
    [InlineData(3, 3, new uint[] { 0xDB6DB6DB, 0xB6DB6DB6, 0x6DB6DB6D })]
    [InlineData(4, 7, new uint[] { 0x77777777 })]
    [InlineData(8, 127, new uint[] { 0x7F7F7F7F })]
    [InlineData(2, 2, new uint[] { 0xAAAAAAAA })]
    [InlineData(3, 4, new uint[] { 0x24924924, 0x49249249, 0x92492492 })]
    [InlineData(4, 8, new uint[] { 0x88888888 })]
    [InlineData(8, 128, new uint[] { 0x80808080 })]
    public void ConstantZeroFieldsPackToTheDocumentedWords(int bits, int stored, uint[] pattern)
    {
        var values = Enumerable.Repeat((byte)stored, 32).ToArray();
        var words = new uint[bits];
        GptqBitPacking.PackRun(values, bits, words);
        for (int w = 0; w < bits; w++)
        {
            Assert.Equal(pattern[w % pattern.Length], words[w]);
        }
    }

    [Fact]
    public void RunsMatchTheBigIntegerReferenceAndRoundTrip() =>
        Runs.Sample(
            (bits, values) =>
            {
                var words = new uint[bits];
                GptqBitPacking.PackRun(values, bits, words);
                Assert.Equal(ReferenceGptqPacking.PackRun(values.Select(v => (int)v).ToArray(), bits), words);

                var back = new byte[32];
                GptqBitPacking.UnpackRun(words, bits, back);
                Assert.Equal(values, back);
                Assert.Equal(values.Select(v => (int)v), ReferenceGptqPacking.UnpackRun(words, bits));
            },
            iter: 500);

    [Fact]
    public void UnpackingArbitraryWordsMatchesTheReference() =>
        (from bits in Widths
         from words in Gen.UInt.Array[8]
         select (bits, words)).Sample(
            (bits, words) =>
            {
                var values = new byte[32];
                GptqBitPacking.UnpackRun(words, bits, values);
                Assert.Equal(ReferenceGptqPacking.UnpackRun(words, bits), values.Select(v => (int)v));
            },
            iter: 300);

    [Theory]
    [InlineData(32, 32)]
    [InlineData(1, 64)]
    [InlineData(3, 96)]
    [InlineData(64, 32)]
    [InlineData(33, 160)]
    public void QWeightMatchesReferenceAndRoundTripsForEveryWidth(int outFeatures, int inFeatures)
    {
        foreach (int bits in new[] { 2, 3, 4, 8 })
        {
            var rng = new Random((outFeatures * 1000) + inFeatures + bits);
            var codes = new byte[outFeatures * inFeatures];
            for (int i = 0; i < codes.Length; i++)
            {
                codes[i] = (byte)rng.Next(1 << bits);
            }

            int[] qweight = GptqBitPacking.PackQWeight(codes, outFeatures, inFeatures, bits);
            Assert.Equal(inFeatures * bits / 32 * outFeatures, qweight.Length);
            Assert.Equal(ReferenceGptqPacking.PackQWeight(codes, outFeatures, inFeatures, bits), qweight);
            Assert.Equal(codes, GptqBitPacking.UnpackQWeight(qweight, outFeatures, inFeatures, bits));
        }
    }

    [Theory]
    [InlineData(1, 32)]
    [InlineData(3, 64)]
    [InlineData(7, 160)]
    public void AlongColumnsMatchesReferenceAndRoundTripsForEveryWidth(int rows, int columns)
    {
        foreach (int bits in new[] { 2, 3, 4, 8 })
        {
            var rng = new Random((rows * 1000) + columns + bits);
            var values = new int[rows * columns];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = rng.Next(1 << bits);
            }

            var bytes = values.Select(v => (byte)v).ToArray();
            int[] packed = GptqBitPacking.PackAlongColumns(bytes, rows, columns, bits);
            Assert.Equal(ReferenceGptqPacking.PackAlongColumns(values, rows, columns, bits), packed);
            Assert.Equal(bytes, GptqBitPacking.UnpackAlongColumns(packed, rows, columns, bits));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void UnsupportedWidthsAreRejected(int bits) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => GptqBitPacking.PackRun(new byte[32], bits, new uint[8]));

    [Fact]
    public void PackedDimensionMustBeAMultipleOf32()
    {
        var ex = Assert.Throws<ArgumentException>(() => GptqBitPacking.PackQWeight(new byte[172], 1, 172, 4));
        Assert.Equal("inFeatures", ex.ParamName);
        Assert.Contains("172", ex.Message, StringComparison.Ordinal);
    }
}
