namespace LowBitQuant.Tests;

public class SchemeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(0)]
    public void BitsOutOfRangeThrowNamingBits(int bits)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizationScheme(bits));
        Assert.Equal("bits", ex.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void NonPositiveGroupSizeThrowsNamingGroupSize(int groupSize)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizationScheme(4, groupSize));
        Assert.Equal("groupSize", ex.ParamName);
    }

    [Theory]
    [InlineData(2, 3, 2)]
    [InlineData(3, 7, 4)]
    [InlineData(4, 15, 8)]
    [InlineData(8, 255, 128)]
    public void MaxCodeAndSymmetricZeroFollowBits(int bits, int maxCode, int zero)
    {
        var s = new QuantizationScheme(bits, null, symmetric: true);
        Assert.Equal(maxCode, s.MaxCode);
        Assert.Equal(zero, s.SymmetricZero);
    }

    [Theory]
    [InlineData(128, 256, 2)]
    [InlineData(128, 257, 3)]
    [InlineData(32, 31, 1)]
    public void GroupCountIsCeilingOfColumnsOverGroupSize(int groupSize, int columns, int groups) =>
        Assert.Equal(groups, new QuantizationScheme(4, groupSize).GroupCount(columns));

    [Fact]
    public void NullGroupSizeMeansOneGroupPerRow() => Assert.Equal(1, new QuantizationScheme(4, null).GroupCount(4096));
}
