using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Rotation;

public class FallbackRotationTests
{
    private static void AssertOrthogonal(IRotation r, double tolerance)
    {
        int n = r.Size;
        var rows = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            rows[(i * n) + i] = 1;
        }

        r.Apply(rows);
        r.ApplyTranspose(rows);
        for (int i = 0; i < n * n; i++)
        {
            Assert.Equal(i % (n + 1) == 0 ? 1 : 0, rows[i], tolerance);
        }

        var x = TestData.Normal(3 * n, n);
        var y = (float[])x.Clone();
        r.Apply(y);
        double nx = x.Sum(v => (double)v * v), ny = y.Sum(v => (double)v * v);
        Assert.Equal(nx, ny, 1e-4 * nx);
    }

    [Fact]
    public void Factory_uses_hadamard_when_supported_and_reports_each_fallback()
    {
        var h = RotationFactory.Create(4864, 1);
        Assert.False(h.IsFallback);
        Assert.IsType<HadamardRotation>(h.Rotation);

        var block = RotationFactory.Create(172, 1);
        Assert.True(block.IsFallback);
        Assert.Equal(4, Assert.IsType<BlockHadamardRotation>(block.Rotation).BlockSize);
        Assert.Contains("172", block.Reason);
        Assert.StartsWith("block-hadamard;n=172;blocks=43x4", block.Rotation.Descriptor);

        var dense = RotationFactory.Create(172, 1, RotationFallback.RandomOrthogonal);
        Assert.True(dense.IsFallback);
        Assert.IsType<RandomOrthogonalRotation>(dense.Rotation);
        Assert.Contains("random orthogonal", dense.Reason);

        var none = Assert.Throws<NotSupportedException>(() => RotationFactory.Create(13696, 1, RotationFallback.None));
        Assert.Contains("13696", none.Message);
        Assert.Throws<NotSupportedException>(() => RotationFactory.Create(13696, 1, RotationFallback.RandomOrthogonal));
    }

    [Fact]
    public void Block_hadamard_for_13696_uses_blocks_of_128_and_is_orthogonal()
    {
        var r = new BlockHadamardRotation(13696, 2);
        Assert.Equal(128, r.BlockSize);
        var x = TestData.Normal(13696, 3);
        var y = (float[])x.Clone();
        r.Apply(y);
        Assert.Equal(x.Sum(v => (double)v * v), y.Sum(v => (double)v * v), 1e-2);
        r.ApplyTranspose(y);
        Assert.True(x.Zip(y).Max(t => Math.Abs(t.First - t.Second)) < 1e-4);

        // Only mixes within a block: a unit vector in block 3 stays in block 3.
        var e = new float[13696];
        e[(3 * 128) + 5] = 1;
        r.Apply(e);
        for (int i = 0; i < e.Length; i++)
        {
            Assert.Equal(i / 128 == 3, e[i] != 0);
        }
    }

    [Fact]
    public void Block_and_dense_fallbacks_are_orthogonal_for_172()
    {
        AssertOrthogonal(new BlockHadamardRotation(172, 4), 1e-5);
        AssertOrthogonal(new RandomOrthogonalRotation(172, 4), 1e-4);
    }

    [Fact]
    public void Random_orthogonal_is_deterministic_by_seed_and_mixes_every_coordinate()
    {
        var a = new RandomOrthogonalRotation(40, 9);
        var b = new RandomOrthogonalRotation(40, 9);
        Assert.Equal(a.Matrix.ToArray(), b.Matrix.ToArray());
        Assert.NotEqual(a.Matrix.ToArray(), new RandomOrthogonalRotation(40, 10).Matrix.ToArray());
        Assert.DoesNotContain(0f, a.Matrix.ToArray());
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => new RandomOrthogonalRotation(RandomOrthogonalRotation.MaxSize + 1, 1)).ParamName);
        Assert.Throws<NotSupportedException>(() => new BlockHadamardRotation(171, 1));
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => a.Apply(new float[41])).ParamName);
    }
}
