using CsCheck;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

/// <summary>A random DASH-Q problem: heavy-tailed weights, a positive diagonal with some dead channels, random settings.</summary>
public sealed record DashQTestCase(int Rows, int Columns, int Bits, int? GroupSize, int Seed, double Damping, double Ridge)
{
    public static readonly Gen<DashQTestCase> Gen =
        from rows in CsCheck.Gen.Int[1, 19]
        from columns in CsCheck.Gen.OneOf(CsCheck.Gen.Int[1, 9], CsCheck.Gen.Int[10, 140])
        from bits in CsCheck.Gen.Int[2, 4]
        from groupSize in CsCheck.Gen.OneOf<int?>(null, 1, 3, 8, 16, 32)
        from seed in CsCheck.Gen.Int[0, 1_000_000]
        from damping in CsCheck.Gen.OneOf(1.0, 0.5, 0.3)
        from ridge in CsCheck.Gen.OneOf(0.0, 1e-2, 0.5)
        select new DashQTestCase(rows, columns, bits, groupSize, seed, damping, ridge);

    public float[] Weights()
    {
        var w = TestData.Normal(Rows * Columns, Seed, 0.02f);
        var rng = new Random(Seed + 1);
        for (int i = 0; i < w.Length; i++)
        {
            w[i] *= (float)Math.Exp(0.5 * ((rng.NextDouble() * 2) - 1));
        }

        return w;
    }

    public float[] Diagonal()
    {
        var rng = new Random(Seed + 2);
        var h = new float[Columns];
        for (int j = 0; j < Columns; j++)
        {
            h[j] = rng.Next(10) == 0 ? 0f : (float)Math.Exp(2 * ((rng.NextDouble() * 2) - 1));
        }

        return h;
    }

    public QuantizationScheme Scheme => new(Bits, GroupSize);

    public DashQOptions Options(int iterations = 9, bool earlyStop = true, bool fp16 = false, bool integerZero = false) =>
        new(Scheme) { Iterations = iterations, Damping = Damping, Ridge = Ridge, EarlyStop = earlyStop, RoundToFloat16 = fp16, IntegerZeroPoint = integerZero };

    public override string ToString() => $"{Rows}x{Columns} b{Bits} g{GroupSize?.ToString() ?? "row"} seed {Seed} α {Damping} λ {Ridge}";
}
