using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Core;

public class QuantizedTensorTests
{
    private static readonly QuantizationScheme Scheme4G4 = new(4, 4);

    [Fact]
    public void DequantizeFollowsGroupIndexWhenGiven()
    {
        // c = 8, g = 4, act-order with dynamic groups (gptq.md §5): g_idx = [0, 1, 0, 1, 1, 0, 1, 0].
        int[] gIdx = [0, 1, 0, 1, 1, 0, 1, 0];
        var codes = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        var t = new QuantizedTensor(Scheme4G4, 1, 8, codes, [0.5f, 2f], [3f, 1f], gIdx);
        var d = t.Dequantize().Data.ToArray();
        for (int j = 0; j < 8; j++)
        {
            float s = gIdx[j] == 0 ? 0.5f : 2f, z = gIdx[j] == 0 ? 3f : 1f;
            Assert.Equal(s * (codes[j] - z), d[j]);
            Assert.Equal(gIdx[j], t.GroupOf(j));
        }
    }

    [Fact]
    public void DequantizeWithoutGroupIndexUsesConsecutiveGroupsAndAPartialLastGroup()
    {
        var codes = new byte[] { 0, 15, 7, 8, 1, 2 };
        var t = new QuantizedTensor(Scheme4G4, 1, 6, codes, [0.25f, 1f], [8f, 2f]);
        Assert.Equal(new[] { -2f, 1.75f, -0.25f, 0f, -1f, 0f }, t.Dequantize().Data.ToArray());
    }

    [Fact]
    public void InputTransformIsUndoneOnDequantize()
    {
        var w = TestData.Normal(3 * 8, seed: 1);
        var transform = new InputTransform([1f, 2f, 0.5f, 4f, 1f, 1f, 0.25f, 3f], new ReversalRotation(8));
        var conditioned = (float[])w.Clone();
        transform.TransformWeights(conditioned);
        var q = new RtnQuantizer(new QuantizationScheme(8, null)).Quantize(new DenseMatrix(conditioned, 3, 8));
        var codes = q.Codes.ToArray();
        var withTransform = new QuantizedTensor(q.Scheme, 3, 8, codes, q.Scales.ToArray(), q.Zeros.ToArray(), inputTransform: transform);
        var restored = withTransform.Dequantize().Data.ToArray();
        for (int i = 0; i < w.Length; i++)
        {
            Assert.Equal(w[i], restored[i], 0.05f);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void TransformPreservesOutputs(int order)
    {
        // W'·x' = W·x for x' = T⁻¹x.
        var w = TestData.Normal(2 * 8, seed: 2);
        var x = TestData.Normal(3 * 8, seed: 3);
        var t = new InputTransform([1f, 2f, 0.5f, 4f, 1f, 1.5f, 0.25f, 3f], new ReversalRotation(8), (TransformOrder)order);
        var w2 = (float[])w.Clone();
        var x2 = (float[])x.Clone();
        t.TransformWeights(w2);
        t.TransformActivations(x2);
        for (int r = 0; r < 2; r++)
        {
            for (int k = 0; k < 3; k++)
            {
                double y = 0, y2 = 0;
                for (int j = 0; j < 8; j++)
                {
                    y += w[(r * 8) + j] * x[(k * 8) + j];
                    y2 += w2[(r * 8) + j] * x2[(k * 8) + j];
                }

                Assert.Equal(y, y2, 4);
            }
        }

        t.RestoreWeights(w2);
        for (int i = 0; i < w.Length; i++)
        {
            Assert.Equal(w[i], w2[i], 5);
        }
    }

    [Fact]
    public void CodesAboveTheBitWidthAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new QuantizedTensor(new QuantizationScheme(2, null), 1, 4, [0, 1, 4, 3], [1f], [1f]));
        Assert.Equal("codes", ex.ParamName);
        Assert.Contains("[0, 2]", ex.Message);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void NonPositiveOrNonFiniteScalesAreRejected(float scale)
    {
        var ex = Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 1, 4, new byte[4], [scale], [0f]));
        Assert.Equal("scales", ex.ParamName);
    }

    [Fact]
    public void WrongLengthsAndGroupIndicesAreRejected()
    {
        Assert.Equal("codes", Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 2, 4, new byte[7], [1f, 1f], [0f, 0f])).ParamName);
        Assert.Equal("scales", Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 2, 4, new byte[8], [1f], [0f])).ParamName);
        Assert.Equal("zeros", Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 2, 4, new byte[8], [1f, 1f], [0f])).ParamName);
        Assert.Equal("groupIndex", Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 1, 4, new byte[4], [1f], [0f], [0, 0, 1, 0])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => new QuantizedTensor(Scheme4G4, 1, 4, new byte[4], [1f], [0f]).Dequantize(new float[3])).ParamName);
    }

    /// <summary>A permutation is orthogonal: reversing the channels of each row.</summary>
    private sealed class ReversalRotation(int size) : IRotation
    {
        public int Size => size;

        public string Descriptor => $"reversal:{size}";

        public void Apply(Span<float> rows)
        {
            for (int i = 0; i < rows.Length; i += size)
            {
                rows.Slice(i, size).Reverse();
            }
        }

        public void ApplyTranspose(Span<float> rows) => Apply(rows);
    }
}
