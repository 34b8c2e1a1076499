using CsCheck;
using LowBitQuant.Rotation;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Rotation;

public class HadamardRotationTests
{
    private static double[] DenseRotation(HadamardRotation r)
    {
        var plan = HadamardConstruction.TryPlan(r.Size)!;
        int n = r.Size;
        var h = ReferenceHadamard.Kronecker(plan.GetCore(), plan.CoreOrder, plan.PowerOfTwo);
        var s = r.Signs.Span;
        var dense = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                dense[(i * n) + j] = s[i] * h[(i * n) + j] / Math.Sqrt(n); // R = diag(s)·H/√n
            }
        }

        return dense;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(12)]
    [InlineData(20)]
    [InlineData(24)]
    [InlineData(28)]
    [InlineData(40)]
    [InlineData(52)]
    [InlineData(64)]
    [InlineData(76)]
    [InlineData(108)]
    [InlineData(112)]
    [InlineData(224)]
    public void Apply_and_apply_transpose_equal_the_dense_product(int n)
    {
        var r = HadamardRotation.Create(n, seed: n);
        var dense = DenseRotation(r);
        const int Rows = 3;
        var x = TestData.Normal(Rows * n, n);
        var y = (float[])x.Clone();
        var z = (float[])x.Clone();
        r.Apply(y);
        r.ApplyTranspose(z);
        for (int row = 0; row < Rows; row++)
        {
            var xr = x.AsSpan(row * n, n);
            var ey = ReferenceHadamard.RowTimes(xr, dense, n);
            var ez = ReferenceHadamard.RowTimes(xr, dense, n, transpose: true);
            for (int j = 0; j < n; j++)
            {
                Assert.Equal(ey[j], y[(row * n) + j], 1e-4);
                Assert.Equal(ez[j], z[(row * n) + j], 1e-4);
            }
        }
    }

    [Theory]
    [InlineData(12)]
    [InlineData(28)]
    [InlineData(60)]
    [InlineData(256)]
    [InlineData(344)]
    public void Randomised_rotation_is_orthogonal(int n)
    {
        var r = HadamardRotation.Create(n, seed: 7);
        var rows = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            rows[(i * n) + i] = 1;
        }

        r.Apply(rows); // row i = e_i·R = row i of R
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j += Math.Max(1, n / 17))
            {
                double dot = 0;
                for (int t = 0; t < n; t++)
                {
                    dot += (double)rows[(i * n) + t] * rows[(j * n) + t];
                }

                Assert.Equal(i == j ? 1.0 : 0.0, dot, 1e-5);
            }
        }

        r.ApplyTranspose(rows); // R·Rᵀ = I
        for (int i = 0; i < n * n; i++)
        {
            Assert.Equal(i % (n + 1) == 0 ? 1f : 0f, rows[i], 1e-5f);
        }
    }

    [Fact]
    public void Sylvester_normalised_transform_is_symmetric_and_self_inverse_but_paley_i_is_not()
    {
        var s = HadamardRotation.CreateUnsigned(64);
        var x = TestData.Normal(64 * 2, 1);
        var a = (float[])x.Clone();
        var b = (float[])x.Clone();
        s.Apply(a);
        s.ApplyTranspose(b);
        Assert.Equal(a, b); // symmetric: R = Rᵀ
        s.Apply(a);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(x[i], a[i], 1e-5f); // involutory
        }

        var p = HadamardRotation.CreateUnsigned(12);
        var c = TestData.Normal(12, 2);
        var d = (float[])c.Clone();
        p.Apply(c);
        p.ApplyTranspose(d);
        Assert.True(c.Zip(d).Max(t => Math.Abs(t.First - t.Second)) > 0.1, "Paley I rotation must not be treated as symmetric");
    }

    [Fact]
    public void Rotations_preserve_norms_and_round_trip_for_every_small_supported_size()
    {
        var sizes = HadamardRotation.SupportedSizes(512).ToArray();
        Gen.Int[0, sizes.Length - 1].Select(Gen.Int).Sample((index, seed) =>
        {
            int n = sizes[index];
            var r = HadamardRotation.Create(n, seed);
            var x = TestData.Normal(2 * n, seed);
            var y = (float[])x.Clone();
            r.Apply(y);
            double nx = x.Sum(v => (double)v * v), ny = y.Sum(v => (double)v * v);
            Assert.Equal(nx, ny, 1e-4 * nx);
            r.ApplyTranspose(y);
            for (int i = 0; i < x.Length; i++)
            {
                Assert.Equal(x[i], y[i], 1e-4f);
            }
        }, iter: 60);
    }

    [Theory]
    [InlineData(11008)]
    [InlineData(10944)]
    [InlineData(14336)]
    [InlineData(13824)]
    [InlineData(8960)]
    [InlineData(4864)]
    [InlineData(18944)]
    [InlineData(29568)]
    [InlineData(3584)]
    public void Real_model_dimensions_round_trip_and_have_orthonormal_rows(int n)
    {
        Assert.True(HadamardRotation.IsSupported(n));
        var r = HadamardRotation.Create(n, seed: 3);
        Assert.Contains($"n={n}", r.Descriptor);
        var x = TestData.Normal(n, n);
        var y = (float[])x.Clone();
        r.Apply(y);
        double nx = x.Sum(v => (double)v * v), ny = y.Sum(v => (double)v * v);
        Assert.Equal(nx, ny, 1e-4 * nx);
        r.ApplyTranspose(y);
        Assert.True(x.Zip(y).Max(t => Math.Abs(t.First - t.Second)) < 1e-3);

        // A few rows of R: e_i·R for i = 0, 1, n/2, n − 1.
        int[] picks = [0, 1, n / 2, n - 1];
        var rows = new float[picks.Length * n];
        for (int t = 0; t < picks.Length; t++)
        {
            rows[(t * n) + picks[t]] = 1;
        }

        r.Apply(rows);
        for (int a = 0; a < picks.Length; a++)
        {
            Assert.All(rows.AsSpan(a * n, n).ToArray(), v => Assert.Equal(1 / Math.Sqrt(n), Math.Abs(v), 1e-6)); // entries ±1/√n
            for (int b = a; b < picks.Length; b++)
            {
                double dot = 0;
                for (int t = 0; t < n; t++)
                {
                    dot += (double)rows[(a * n) + t] * rows[(b * n) + t];
                }

                Assert.Equal(a == b ? 1.0 : 0.0, dot, 1e-4);
            }
        }
    }

    [Fact]
    public void Persisted_signs_rebuild_the_same_rotation()
    {
        var r = HadamardRotation.Create(108, seed: 42);
        var rebuilt = HadamardRotation.Create(r.Signs.Span);
        var x = TestData.Normal(108 * 2, 5);
        var a = (float[])x.Clone();
        var b = (float[])x.Clone();
        r.Apply(a);
        rebuilt.Apply(b);
        Assert.Equal(a, b);
        Assert.Contains("seed=42", r.Descriptor);
        Assert.Contains("paley-i", r.Descriptor);
        Assert.NotEqual(r.Signs.ToArray(), HadamardRotation.Create(108, seed: 43).Signs.ToArray());
    }

    [Fact]
    public void Prime_power_descriptor_records_field_and_polynomial()
    {
        // 344 = 343 + 1, Paley I over GF(7^3).
        string d = HadamardRotation.DescribeConstruction(11008)!;
        Assert.Contains("q=343=7^3", d);
        Assert.Contains("poly=x^3", d);
    }

    [Fact]
    public void Bad_input_names_the_size_and_the_alternatives()
    {
        var ex = Assert.Throws<NotSupportedException>(() => HadamardRotation.Create(13696, 1));
        Assert.Contains("13696", ex.Message);
        Assert.Contains("BlockHadamardRotation with blocks of 128", ex.Message);
        var small = Assert.Throws<NotSupportedException>(() => HadamardRotation.Create(172, 1));
        Assert.Contains("RandomOrthogonalRotation", small.Message);
        Assert.Contains("168", small.Message); // nearest supported below (168 = 84·2, Paley I q = 83)
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => HadamardRotation.Create(0, 1)).ParamName);
        Assert.Equal("signs", Assert.Throws<ArgumentException>(() => HadamardRotation.Create(new sbyte[] { 1, 0 })).ParamName);

        var r = HadamardRotation.Create(12, 1);
        var mismatch = Assert.Throws<ArgumentException>(() => r.Apply(new float[18]));
        Assert.Equal("rows", mismatch.ParamName);
        Assert.Contains("12", mismatch.Message);
        Assert.Throws<ArgumentException>(() => r.ApplyTranspose(new float[13]));
    }
}
