using System.Numerics;
using CsCheck;
using LowBitQuant.Quantizers;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

/// <summary>The AVX tile moves of DASH-Q against plain index loops, and whole layers that take the fast paths against the reference.</summary>
public class DashQTileTransposeTests
{
    [SkippableFact]
    public void LoadRowsEqualsTheIndexLoop()
    {
        Skip.IfNot(DashQTileTranspose.IsSupported, "AVX with 8-lane Vector<float> is not available");
        Gen.Select(Gen.Int[1, 12], Gen.Int[0, 20], Gen.Int[0, 1000]).Sample((blocks, extra, seed) =>
        {
            int len = blocks * 8, stride = len + extra;
            var source = TestData.Normal((7 * stride) + len, seed);
            var tile = new float[len * 8];
            DashQTileTranspose.LoadRows(source, stride, len, tile);
            for (int r = 0; r < 8; r++)
            {
                for (int j = 0; j < len; j++)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(source[(r * stride) + j]), BitConverter.SingleToInt32Bits(tile[(j * 8) + r]));
                }
            }
        }, iter: 50);
    }

    [SkippableFact]
    public void FinishPackedEqualsFinishThenScalarWriteBack()
    {
        Skip.IfNot(DashQTileTranspose.IsSupported, "AVX with 8-lane Vector<float> is not available");
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 4], Gen.Int[0, 1000]).Sample((bits, chunks, seed) =>
        {
            int len = chunks * 32, stride = len + 5;
            var solve = new DashQGroupSolve(new DashQOptions(new QuantizationScheme(bits, null)));
            var tile = TestData.Normal(len * 8, seed);
            var rng = new Random(seed);
            var scale = new Vector<float>(Enumerable.Range(0, 8).Select(_ => (float)(0.05 + rng.NextDouble())).ToArray());
            var zero = new Vector<float>(Enumerable.Range(0, 8).Select(_ => (float)(rng.NextDouble() * (1 << bits))).ToArray());
            var constant = new Vector<int>(Enumerable.Range(0, 8).Select(k => k == seed % 8 ? -1 : 0).ToArray());
            var constantCode = new Vector<float>(1f);

            var expectedTile = new float[len * 8];
            solve.Finish(tile, expectedTile, len, scale, zero, constant, constantCode);
            var packed = new byte[(7 * stride) + len];
            solve.FinishPacked(tile, len, scale, zero, constant, constantCode, packed, stride);
            for (int r = 0; r < 8; r++)
            {
                for (int j = 0; j < len; j++)
                {
                    Assert.Equal((byte)expectedTile[(j * 8) + r], packed[(r * stride) + j]);
                }
            }
        }, iter: 50);
    }
}
