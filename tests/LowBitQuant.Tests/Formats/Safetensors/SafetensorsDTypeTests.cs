using LowBitQuant.Formats.Safetensors;

namespace LowBitQuant.Tests.Formats.Safetensors;

public class SafetensorsDTypeTests
{
    // The table of formats/safetensors.md §2, typed in from the spec.
    public static TheoryData<string, int, int> SpecTable => new()
    {
        { "F4", 4, 1 }, { "F6_E2M3", 6, 1 }, { "F6_E3M2", 6, 1 },
        { "BOOL", 8, 1 }, { "U8", 8, 1 }, { "I8", 8, 1 }, { "F8_E5M2", 8, 1 }, { "F8_E4M3", 8, 1 },
        { "F8_E8M0", 8, 1 }, { "F8_E4M3FNUZ", 8, 1 }, { "F8_E5M2FNUZ", 8, 1 },
        { "I16", 16, 2 }, { "U16", 16, 2 }, { "F16", 16, 2 }, { "BF16", 16, 2 },
        { "I32", 32, 4 }, { "U32", 32, 4 }, { "F32", 32, 4 },
        { "I64", 64, 8 }, { "U64", 64, 8 }, { "F64", 64, 8 }, { "C64", 64, 8 },
    };

    [Theory]
    [MemberData(nameof(SpecTable))]
    public void EverySpecNameParsesWithItsBitSizeAndFormatsBack(string name, int bits, int alignment)
    {
        Assert.True(SafetensorsDTypeExtensions.TryParse(name, out SafetensorsDType dtype));
        Assert.Equal(dtype, SafetensorsDTypeExtensions.Parse(name));
        Assert.Equal(name, dtype.GetName());
        Assert.Equal(bits, dtype.GetBitSize());
        Assert.Equal(alignment, dtype.GetAlignment());
    }

    [Fact]
    public void EveryEnumValueIsInTheSpecTable()
    {
        var names = SpecTable.Select(row => (string)row[0]).ToHashSet();
        Assert.Equal(names.Count, Enum.GetValues<SafetensorsDType>().Length);
        Assert.All(Enum.GetValues<SafetensorsDType>(), d => Assert.Contains(d.GetName(), names));
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("F33")]
    [InlineData("")]
    [InlineData(" F32")]
    [InlineData("F8_E4M3FN")]
    public void UnknownOrMisspelledNamesDoNotParse(string name)
    {
        Assert.False(SafetensorsDTypeExtensions.TryParse(name, out _));
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => SafetensorsDTypeExtensions.Parse(name)).ParamName);
    }

    [Fact]
    public void UndefinedValueThrowsNamingDType() =>
        Assert.Equal("dtype", Assert.Throws<ArgumentOutOfRangeException>(() => ((SafetensorsDType)99).GetBitSize()).ParamName);
}
