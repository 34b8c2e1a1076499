using LowBitQuant.Rotation;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Rotation;

public class HadamardConstructionTests
{
    [Fact]
    public void Every_constructible_core_up_to_512_satisfies_HHt_equals_nI()
    {
        int built = 0;
        for (int k = 2; k <= 512; k++)
        {
            var core = HadamardConstruction.TryCore(k);
            if (core is null)
            {
                continue;
            }

            var h = HadamardConstruction.BuildPaley(core.Value.Kind, core.Value.Field);
            Assert.Equal(k * k, h.Length);
            Assert.All(h, v => Assert.True(v is 1 or -1));
            // Independent O(K³) integer reference for small orders; the bit-packed exact check everywhere.
            Assert.True(k > 96 || ReferenceHadamard.IsHadamard(h, k), $"order {k} ({core.Value.Kind}, q = {core.Value.Field.Order}) is not Hadamard");
            Assert.True(HadamardConstruction.IsHadamardExact(h, k), $"order {k} ({core.Value.Kind}, q = {core.Value.Field.Order}) is not Hadamard");
            built++;
        }

        Assert.True(built > 60, $"only {built} cores were constructible up to 512");
    }

    [Theory]
    [InlineData(3, HadamardCoreKind.PaleyI)]
    [InlineData(7, HadamardCoreKind.PaleyI)]
    [InlineData(11, HadamardCoreKind.PaleyI)]
    [InlineData(19, HadamardCoreKind.PaleyI)]
    [InlineData(27, HadamardCoreKind.PaleyI)]
    [InlineData(107, HadamardCoreKind.PaleyI)]
    [InlineData(139, HadamardCoreKind.PaleyI)]
    [InlineData(343, HadamardCoreKind.PaleyI)]
    [InlineData(5, HadamardCoreKind.PaleyII)]
    [InlineData(9, HadamardCoreKind.PaleyII)]
    [InlineData(13, HadamardCoreKind.PaleyII)]
    [InlineData(25, HadamardCoreKind.PaleyII)]
    [InlineData(37, HadamardCoreKind.PaleyII)]
    [InlineData(73, HadamardCoreKind.PaleyII)]
    [InlineData(81, HadamardCoreKind.PaleyII)]
    [InlineData(121, HadamardCoreKind.PaleyII)]
    public void Paley_over_prime_and_prime_power_fields_is_hadamard(int q, HadamardCoreKind kind)
    {
        var field = GaloisField.TryCreate(q)!;
        var h = HadamardConstruction.BuildPaley(kind, field);
        int k = kind == HadamardCoreKind.PaleyI ? q + 1 : 2 * (q + 1);
        Assert.True(k <= 128 ? ReferenceHadamard.IsHadamard(h, k) : HadamardConstruction.IsHadamardExact(h, k));
        Assert.True(HadamardConstruction.PassesRandomCheck(h, k, 2, q));
    }

    [Fact]
    public void Paley_i_is_skew_and_paley_ii_is_symmetric()
    {
        var p1 = HadamardConstruction.BuildPaley(HadamardCoreKind.PaleyI, GaloisField.TryCreate(11)!);
        var p2 = HadamardConstruction.BuildPaley(HadamardCoreKind.PaleyII, GaloisField.TryCreate(13)!);
        bool p1Symmetric = true;
        for (int i = 0; i < 12; i++)
        {
            for (int j = 0; j < 12; j++)
            {
                p1Symmetric &= p1[(i * 12) + j] == p1[(j * 12) + i];
                if (i != j)
                {
                    Assert.Equal(-p1[(i * 12) + j], p1[(j * 12) + i]); // H = I + S, Sᵀ = −S
                }
            }
        }

        Assert.False(p1Symmetric);
        for (int i = 0; i < 28; i++)
        {
            for (int j = 0; j < 28; j++)
            {
                Assert.Equal(p2[(i * 28) + j], p2[(j * 28) + i]);
            }
        }
    }

    [Theory]
    [InlineData(9)]
    [InlineData(25)]
    [InlineData(27)]
    [InlineData(49)]
    [InlineData(81)]
    [InlineData(125)]
    public void Prime_power_field_has_inverses_and_half_its_nonzero_elements_are_squares(int q)
    {
        var f = GaloisField.TryCreate(q)!;
        for (int a = 1; a < q; a++)
        {
            int inverses = 0;
            for (int b = 1; b < q; b++)
            {
                inverses += f.Multiply(a, b) == 1 ? 1 : 0;
            }

            Assert.Equal(1, inverses); // the modulus is irreducible: no zero divisors
        }

        var chi = f.QuadraticCharacter();
        Assert.Equal((q - 1) / 2, chi.Count(c => c == 1));
        Assert.Equal((q - 1) / 2, chi.Count(c => c == -1));
        Assert.Equal(0, f.Subtract(7 % q, 7 % q));
    }

    // rotations.md §5: the smallest constructible K and its construction for real model dimensions.
    [Theory]
    [InlineData(29568, 924, HadamardCoreKind.PaleyII)]
    [InlineData(10944, 684, HadamardCoreKind.PaleyI)]
    [InlineData(4864, 76, HadamardCoreKind.PaleyII)]
    [InlineData(18944, 148, HadamardCoreKind.PaleyII)]
    [InlineData(3584, 28, HadamardCoreKind.PaleyII)]
    [InlineData(11008, 344, HadamardCoreKind.PaleyI)]
    [InlineData(14336, 28, HadamardCoreKind.PaleyII)]
    [InlineData(13824, 108, HadamardCoreKind.PaleyI)]
    [InlineData(8960, 140, HadamardCoreKind.PaleyI)]
    [InlineData(896, 28, HadamardCoreKind.PaleyII)]
    [InlineData(1536, 12, HadamardCoreKind.PaleyI)]
    [InlineData(5120, 20, HadamardCoreKind.PaleyI)]
    [InlineData(27648, 108, HadamardCoreKind.PaleyI)]
    [InlineData(53248, 52, HadamardCoreKind.PaleyII)]
    [InlineData(4096, 1, HadamardCoreKind.Sylvester)]
    public void Real_model_dimensions_get_the_smallest_core_and_it_is_verified(int n, int k, HadamardCoreKind kind)
    {
        var plan = HadamardConstruction.TryPlan(n)!;
        Assert.NotNull(plan);
        Assert.Equal(k, plan.CoreOrder);
        Assert.Equal(kind, plan.Kind);
        Assert.Equal(n, plan.CoreOrder * plan.PowerOfTwo);
        Assert.True(System.Numerics.BitOperations.IsPow2(plan.PowerOfTwo));
        var core = plan.GetCore();
        Assert.True(HadamardConstruction.IsHadamardExact(core, k));
    }

    [Fact]
    public void Random_vector_check_rejects_a_corrupted_matrix()
    {
        var h = HadamardConstruction.BuildPaley(HadamardCoreKind.PaleyI, GaloisField.TryCreate(107)!);
        Assert.True(HadamardConstruction.PassesRandomCheck(h, 108, 3, 1));
        h[5 * 108 + 17] = (sbyte)-h[5 * 108 + 17];
        Assert.False(HadamardConstruction.PassesRandomCheck(h, 108, 3, 1));
        Assert.False(HadamardConstruction.IsHadamardExact(h, 108));
    }

    [Fact]
    public void Sizes_up_to_4096_either_construct_or_have_a_reported_fallback()
    {
        foreach (int n in new[] { 13696, 172, 428 })
        {
            Assert.False(HadamardRotation.IsSupported(n));
        }

        int supported = 0;
        for (int n = 1; n <= 4096; n++)
        {
            if (HadamardRotation.IsSupported(n))
            {
                supported++;
                Assert.NotNull(HadamardRotation.DescribeConstruction(n));
                continue;
            }

            Assert.Null(HadamardRotation.DescribeConstruction(n));
            int block = BlockHadamardRotation.LargestBlock(n);
            Assert.True(block == 1 || (n % block == 0 && HadamardRotation.IsSupported(block)));
            Assert.True(block > 1 || n % 4 != 0 || n <= RandomOrthogonalRotation.MaxSize || n % 2 == 1 || block == 1);
        }

        Assert.Equal(supported, HadamardRotation.SupportedSizes(4096).Count());
        Assert.True(supported > 500);
    }
}
