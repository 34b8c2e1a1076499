using System.Numerics;
using CsCheck;
using LowBitQuant.Quantizers;

namespace LowBitQuant.Tests.Quantizers;

/// <summary>The vectorised float16 round trip against <c>(float)(Half)x</c>.</summary>
public class HalfRoundingTests
{
    private static void AssertMatchesHalf(float[] values)
    {
        int v = Vector<float>.Count;
        var padded = new float[(values.Length + v - 1) / v * v];
        values.CopyTo(padded, 0);
        for (int i = 0; i < padded.Length; i += v)
        {
            var r = HalfRounding.Round(new Vector<float>(padded, i));
            for (int k = 0; k < v; k++)
            {
                float x = padded[i + k], expected = (float)(Half)x;
                if (float.IsFinite(x))
                {
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(r[k]), $"x = {x:R} ({BitConverter.SingleToInt32Bits(x):X8}): expected {expected:R}, got {r[k]:R}");
                }
                else
                {
                    Assert.False(float.IsFinite(r[k]));
                }

                Assert.Equal(float.IsFinite(x), HalfRounding.IsFinite(new Vector<float>(x))[0] != 0);
            }
        }
    }

    [Fact]
    public void EdgeValuesMatchHalfConversion()
    {
        var edges = new List<float>
        {
            0f, -0f, 65504f, 65519.99f, 65520f, -65520f, 65536f, 1e10f, float.MaxValue, float.Epsilon, float.NaN, float.PositiveInfinity,
            float.NegativeInfinity, 6.1035156e-5f, 6.1035156e-5f * 0.999f, 5.9604645e-8f, 2.9802322e-8f, 2.98023259e-8f, 4.4703484e-8f, 1e-9f, 1f, 1.00048828125f, 1.000732421875f, -2.5f,
        };
        for (int bits = 0x3300_0000; bits < 0x4800_0000; bits += 0x0000_1000)
        {
            edges.Add(BitConverter.Int32BitsToSingle(bits));
            edges.Add(BitConverter.Int32BitsToSingle(bits + 0x0FFF));
            edges.Add(-BitConverter.Int32BitsToSingle(bits + 0x1001));
        }

        AssertMatchesHalf(edges.ToArray());
    }

    [Fact]
    public void RandomBitPatternsMatchHalfConversion() =>
        Gen.Int.Array[64].Sample(a => AssertMatchesHalf(a.Select(BitConverter.Int32BitsToSingle).ToArray()), iter: 2000);
}
