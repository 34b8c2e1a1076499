using CsCheck;
using LowBitQuant.Internal;

namespace LowBitQuant.Tests.Internal;

public class BFloat16ConversionTests
{
    /// <summary>
    /// Reference from the definition: of the two bfloat16 values bracketing x (truncation, and one unit of the 7-bit
    /// mantissa further from zero), take the nearer in exact (double) arithmetic; on a tie take the one with an even
    /// last bit. Past the largest finite bfloat16 the next value up is 2^128, which is written as Inf.
    /// </summary>
    private static ushort ReferenceFromSingle(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x) || float.IsInfinity(x))
        {
            return float.IsNaN(x) ? (ushort)0 : (ushort)(bits >> 16); // NaN handled by the caller
        }

        ushort low = (ushort)(bits >> 16);
        ushort high = (ushort)(low + 1); // one unit further from zero (the carry into the exponent is intended)
        double valueLow = BitConverter.UInt32BitsToSingle((uint)low << 16);
        double valueHigh = (high & 0x7FFF) == 0x7F80 ? Math.CopySign(Math.Pow(2, 128), x) : BitConverter.UInt32BitsToSingle((uint)high << 16);
        double dLow = Math.Abs(x - valueLow), dHigh = Math.Abs(valueHigh - x);
        return dLow < dHigh ? low : dHigh < dLow ? high : (low & 1) == 0 ? low : high;
    }

    [Fact]
    public void MatchesTheDefinitionOnRandomBitPatterns() =>
        Gen.UInt.Sample(bits =>
        {
            float x = BitConverter.UInt32BitsToSingle(bits);
            ushort actual = BFloat16Conversion.FromSingle(x);
            if (float.IsNaN(x))
            {
                Assert.True(float.IsNaN(BFloat16Conversion.ToSingle(actual)));
                Assert.Equal(bits >> 31, (uint)actual >> 15);
            }
            else
            {
                Assert.Equal(ReferenceFromSingle(x), actual);
            }
        }, iter: 20_000);

    [Theory]
    [InlineData(0x3F800000u, 0x3F80)] // 1
    [InlineData(0xC0000000u, 0xC000)] // −2
    [InlineData(0x80000000u, 0x8000)] // −0 keeps its sign
    [InlineData(0x7F800000u, 0x7F80)] // +Inf
    [InlineData(0x7F7FFFFFu, 0x7F80)] // float.MaxValue rounds up past the largest finite bfloat16
    [InlineData(0x7F7F7FFFu, 0x7F7F)] // just below halfway to Inf: stays finite
    [InlineData(0x3F808000u, 0x3F80)] // 1 + 2^-8: exactly halfway, ties to even (down)
    [InlineData(0x3F818000u, 0x3F82)] // 1 + 3·2^-8: exactly halfway, ties to even (up)
    [InlineData(0x3F808001u, 0x3F81)] // just above halfway: up
    public void KnownValues(uint bits, int expected) =>
        Assert.Equal((ushort)expected, BFloat16Conversion.FromSingle(BitConverter.UInt32BitsToSingle(bits)));

    [Fact]
    public void NaNWithOnlyLowMantissaBitsStaysNaN()
    {
        float nan = BitConverter.UInt32BitsToSingle(0x7F800001);
        Assert.True(float.IsNaN(BFloat16Conversion.ToSingle(BFloat16Conversion.FromSingle(nan))));
    }

    [Fact]
    public void WideningIsExactAndInvertsNarrowing() =>
        Gen.UShort.Sample(b =>
        {
            float x = BFloat16Conversion.ToSingle(b);
            Assert.Equal((uint)b << 16, BitConverter.SingleToUInt32Bits(x));
            if (!float.IsNaN(x))
            {
                Assert.Equal(b, BFloat16Conversion.FromSingle(x));
            }
        }, iter: 5_000);
}
