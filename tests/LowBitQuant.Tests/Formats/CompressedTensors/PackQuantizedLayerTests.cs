using LowBitQuant.Formats.CompressedTensors;

namespace LowBitQuant.Tests.Formats.CompressedTensors;

public class PackQuantizedLayerTests
{
    private static readonly ushort One = BitConverter.HalfToUInt16Bits((Half)1f);

    [Fact]
    public void OneBitLayersPackButCannotBecomeQuantizedTensors()
    {
        // 33 one-bit fields: two words, the second holding one field.
        var layer = new PackQuantizedLayer(1, null, 1, 33, [unchecked((int)0x80000001), 1], [One], ScaleDataType.Float16, null, null);
        var codes = layer.GetCodes();
        Assert.Equal(3, codes.Count(c => c == 1));
        Assert.Equal(1, codes[0]);
        Assert.Equal(1, codes[31]);
        Assert.Equal(1, codes[32]);
        Assert.Throws<NotSupportedException>(layer.Unpack);
    }

    [Fact]
    public void PaddingBitsMustBeZero()
    {
        // 3-bit, in = 11: word 0 has the top 2 bits unused, word 1 holds one field.
        var ex = Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(3, null, 1, 11, [0x40000000, 0], [One], ScaleDataType.Float16, null, null));
        Assert.Equal("weightPacked", ex.ParamName);
        Assert.Contains("[0, 0]", ex.Message);
        Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(3, null, 1, 11, [0, 0b1000], [One], ScaleDataType.Float16, null, null));
        Assert.Equal(7, new PackQuantizedLayer(3, null, 1, 11, [0, 0b111], [One], ScaleDataType.Float16, null, null).GetCodes()[10]);

        // 4-bit zero points of 9 rows: word 1 of each column holds one field.
        var zx = Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, null, 9, 8, new int[9], Enumerable.Repeat(One, 9).ToArray(), ScaleDataType.Float16, [0, 0x10], null));
        Assert.Equal("weightZeroPoint", zx.ParamName);
    }

    [Fact]
    public void ShapesAndValuesAreValidated()
    {
        Assert.Equal("weightPacked", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, null, 2, 9, new int[3], [One, One], ScaleDataType.Float16, null, null)).ParamName);
        Assert.Equal("weightScale", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, 4, 1, 8, new int[1], [One], ScaleDataType.Float16, null, null)).ParamName);
        Assert.Equal("weightScale", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, null, 1, 8, new int[1], [0], ScaleDataType.Float16, null, null)).ParamName);
        Assert.Equal("groupSize", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, 3, 1, 8, new int[1], [One, One], ScaleDataType.Float16, null, null)).ParamName);
        Assert.Equal("weightGroupIndex", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, 4, 1, 8, new int[1], [One, One], ScaleDataType.Float16, null, [0, 0, 0, 0, 1, 1, 1, 2])).ParamName);
        Assert.Equal("weightZeroPoint", Assert.Throws<ArgumentException>(() => new PackQuantizedLayer(4, 4, 1, 8, new int[1], [One, One], ScaleDataType.Float16, [0], null)).ParamName);
        Assert.Equal("bits", Assert.Throws<ArgumentOutOfRangeException>(() => new PackQuantizedLayer(9, null, 1, 8, new int[2], [One], ScaleDataType.Float16, null, null)).ParamName);
    }
}
