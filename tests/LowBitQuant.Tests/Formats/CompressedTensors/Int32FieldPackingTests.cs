using CsCheck;
using LowBitQuant.Formats.CompressedTensors;

namespace LowBitQuant.Tests.Formats.CompressedTensors;

public class Int32FieldPackingTests
{
    [Fact]
    public void FourBitWorkedExampleMatchesTheSpec()
    {
        // Signed −8..7 shifted by +8 are the stored fields 0..15 (compressed-tensors.md §3).
        var fields = Enumerable.Range(-8, 16).Select(s => (byte)(s + 8)).ToArray();
        var words = new int[2];
        Int32FieldPacking.PackRows(fields, 1, 16, 4, words);
        Assert.Equal(new[] { 0x76543210, unchecked((int)0xFEDCBA98) }, words);
    }

    [Fact]
    public void ThreeBitWorkedExampleMatchesTheSpecAndLeavesTheTopBitsClear()
    {
        byte[] fields = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1];
        var words = new int[1];
        Int32FieldPacking.PackRows(fields, 1, 10, 3, words);
        Assert.Equal(0x08FAC688, words[0]);
        Assert.Equal(0u, (uint)words[0] >> 30);
    }

    [Theory]
    [InlineData(1, 32)]
    [InlineData(2, 16)]
    [InlineData(3, 10)]
    [InlineData(4, 8)]
    [InlineData(5, 6)]
    [InlineData(6, 5)]
    [InlineData(7, 4)]
    [InlineData(8, 4)]
    public void FieldsPerWordNeverSpill(int bits, int expected) => Assert.Equal(expected, Int32FieldPacking.FieldsPerWord(bits));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void RowsOf172MatchTheBitwiseReferenceAndRoundTrip(int bits)
    {
        const int Rows = 3, Columns = 172;
        var rng = new Random(bits);
        var values = new byte[Rows * Columns];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (byte)rng.Next(1 << bits);
        }

        // All-ones fields make a wrong shift or a spill visible in the padding.
        values[Columns - 1] = (byte)((1 << bits) - 1);
        int words = (Columns + (32 / bits) - 1) / (32 / bits);
        var packed = new int[Rows * words];
        Int32FieldPacking.PackRows(values, Rows, Columns, bits, packed);
        Assert.Equal(ReferencePackQuantized.PackRows(values.Select(v => (int)v).ToArray(), Rows, Columns, bits), packed);

        var back = new byte[values.Length];
        Int32FieldPacking.UnpackRows(packed, Rows, Columns, bits, back);
        Assert.Equal(values, back);
    }

    [Fact]
    public void RowPackingMatchesTheReferenceAndRoundTripsForAnyShape()
    {
        Gen.Select(Gen.Int[1, 8], Gen.Int[1, 6], Gen.Int[1, 200], Gen.Int).Sample((bits, rows, columns, seed) =>
        {
            var rng = new Random(seed);
            var values = new byte[rows * columns];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (byte)rng.Next(1 << bits);
            }

            var packed = new int[rows * Int32FieldPacking.WordCount(columns, bits)];
            Int32FieldPacking.PackRows(values, rows, columns, bits, packed);
            var back = new byte[values.Length];
            Int32FieldPacking.UnpackRows(packed, rows, columns, bits, back);
            return packed.SequenceEqual(ReferencePackQuantized.PackRows(values.Select(v => (int)v).ToArray(), rows, columns, bits))
                && back.SequenceEqual(values);
        });
    }

    [Fact]
    public void Dim0PackingMatchesTheReferenceAndRoundTripsForAnyShape()
    {
        Gen.Select(Gen.Int[1, 8], Gen.Int[1, 40], Gen.Int[1, 9], Gen.Int).Sample((bits, rows, columns, seed) =>
        {
            var rng = new Random(seed);
            var values = new byte[rows * columns];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (byte)rng.Next(1 << bits);
            }

            var packed = new int[Int32FieldPacking.WordCount(rows, bits) * columns];
            Int32FieldPacking.PackAlongDim0(values, rows, columns, bits, packed);
            var back = new byte[values.Length];
            Int32FieldPacking.UnpackAlongDim0(packed, rows, columns, bits, back);
            return packed.SequenceEqual(ReferencePackQuantized.PackDim0(values.Select(v => (int)v).ToArray(), rows, columns, bits))
                && back.SequenceEqual(values);
        });
    }

    [Theory]
    [InlineData(3, 10, 0xC0000000u)]
    [InlineData(3, 7, 0xFFE00000u)]
    [InlineData(4, 8, 0u)]
    [InlineData(5, 1, 0xFFFFFFE0u)]
    public void UnusedBitsCoverTopBitsAndPaddingFields(int bits, int used, uint expected) =>
        Assert.Equal(expected, Int32FieldPacking.UnusedBits(used, bits));
}
