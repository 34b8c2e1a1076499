using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CsCheck;
using LowBitQuant.Quantizers;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Quantizers;

/// <summary>
/// The 16-row AVX-512 DASH-Q path against the <see cref="Vector{T}"/> path and the scalar reference (bit for bit: codes, scales,
/// zeros, iteration counts and diagnostics), and its building blocks against plain loops.
/// </summary>
public class DashQAvx512Tests
{
    private const string NoAvx512 = "AVX-512 F/BW/DQ is not available";

    /// <summary>Random layers: ragged and tiny row counts, groups that do not divide, dead channels and groups, constant groups.</summary>
    private static readonly Gen<(DashQTestCase Case, int Variant, int Extra)> Layers =
        from rows in Gen.OneOf(Gen.Int[1, 5], Gen.Int[14, 18], Gen.Int[19, 70])
        from columns in Gen.OneOf(Gen.Int[1, 9], Gen.Int[10, 140], Gen.Const(96), Gen.Const(128))
        from bits in Gen.Int[2, 4]
        from groupSize in Gen.OneOf<int?>(null, 1, 3, 8, 16, 32, 64)
        from seed in Gen.Int[0, 1_000_000]
        from damping in Gen.OneOf(1.0, 0.5, 0.3)
        from ridge in Gen.OneOf(0.0, 1e-2, 0.5)
        from variant in Gen.Int[0, 31]
        from extra in Gen.Int[0, 3]
        select (new DashQTestCase(rows, columns, bits, groupSize, seed, damping, ridge), variant, extra);

    private static DashQOptions OptionsFor(DashQTestCase c, int variant) =>
        new(c.Scheme)
        {
            Iterations = (variant & 8) != 0 ? 1 + (variant % 5) : 9,
            Damping = c.Damping,
            Ridge = c.Ridge,
            EarlyStop = (variant & 1) == 0,
            RoundToFloat16 = (variant & 2) == 0,
            IntegerZeroPoint = (variant & 4) != 0,
            RangeCandidates = (variant & 16) != 0 ? 9 : 0,
        };

    /// <summary>The test case's weights and diagonal with some constant (row, group) blocks, some ±0 weights and, for <paramref name="extra"/> ≥ 2, a dead group.</summary>
    private static (float[] W, float[] H) Inputs(DashQTestCase c, int extra)
    {
        var w = c.Weights();
        var h = c.Diagonal();
        var rng = new Random(c.Seed + 3);
        int width = c.Scheme.GroupWidth(c.Columns);
        for (int k = 0; k < extra * 2; k++)
        {
            int r = rng.Next(c.Rows), start = rng.Next(c.Scheme.GroupCount(c.Columns)) * width, len = Math.Min(width, c.Columns - start);
            float value = rng.Next(4) switch { 0 => 0f, 1 => 0.0123456f, 2 => -0f, _ => -(float)rng.NextDouble() };
            w.AsSpan((r * c.Columns) + start, len).Fill(value);
            w[rng.Next(w.Length)] = (k & 1) == 0 ? -0f : 0f; // signed zeros among ordinary weights
        }

        if (extra >= 2)
        {
            int start = rng.Next(c.Scheme.GroupCount(c.Columns)) * width;
            h.AsSpan(start, Math.Min(width, c.Columns - start)).Clear();
        }

        return (w, h);
    }

    private static int[] Bits(float[] values) => MemoryMarshal.Cast<float, int>(values).ToArray();

    [SkippableFact]
    public void SixteenRowTilesEqualTheVectorTPathBitForBit()
    {
        Skip.IfNot(DashQGroupSolve16.IsSupported, NoAvx512);
        Layers.Sample(t =>
        {
            var (c, variant, extra) = t;
            var (w, h) = Inputs(c, extra);
            var o = OptionsFor(c, variant);
            var wide = DashQSolver.Solve(w, c.Rows, c.Columns, h, o, default);
            var narrow = DashQSolver.Solve(w, c.Rows, c.Columns, h, o, default, allowAvx512: false);
            Assert.Equal(narrow.Codes, wide.Codes);
            Assert.Equal(Bits(narrow.Scales), Bits(wide.Scales));
            Assert.Equal(Bits(narrow.Zeros), Bits(wide.Zeros));
            Assert.Equal(narrow.IterationsRun, wide.IterationsRun);
            Assert.Equal((narrow.UniformGroups, narrow.DeadChannels, narrow.ConstantGroups, narrow.UnroundedParameters), (wide.UniformGroups, wide.DeadChannels, wide.ConstantGroups, wide.UnroundedParameters));
        }, iter: 300);
    }

    [Fact]
    public void BothPathsMatchTheScalarReferenceOnRaggedRowCounts() =>
        Layers.Where(t => (t.Variant & 16) == 0).Sample(t =>
        {
            var (c, variant, extra) = t;
            var (w, h) = Inputs(c, extra);
            var o = OptionsFor(c, variant);
            var (codes, scales, zeros) = DashQReference.Solve(w, c.Rows, c.Columns, h, o);
            foreach (bool allow in new[] { true, false })
            {
                var r = DashQSolver.Solve(w, c.Rows, c.Columns, h, o, default, allow);
                Assert.Equal(codes, r.Codes);
                Assert.Equal(Bits(scales), Bits(r.Scales));
                Assert.Equal(Bits(zeros), Bits(r.Zeros));
            }
        }, iter: 60);

    [Fact]
    public void ConstantGroupsDeadChannelsAndIterationsAreReportedTheSameWay()
    {
        // 37 rows (two full 16-row tiles and a 5-row tail) × 100 columns in groups of 32 (the last one 4 wide).
        var c = new DashQTestCase(37, 100, 2, 32, 11, 0.5, 1e-2);
        var (w, h) = Inputs(c, 3);
        h[5] = 0;
        w.AsSpan(36 * 100, 32).Fill(0.25f); // a constant group in the tail tile
        var o = c.Options(fp16: true);
        var results = new[] { DashQSolver.Solve(w, c.Rows, c.Columns, h, o, default), DashQSolver.Solve(w, c.Rows, c.Columns, h, o, default, allowAvx512: false) };
        foreach (var r in results)
        {
            Assert.True(r.ConstantGroups >= 1);
            Assert.True(r.DeadChannels >= 1);
            Assert.True(r.IterationsRun >= 37L * 4);
        }

        Assert.Equal(results[0].ConstantGroups, results[1].ConstantGroups);
        Assert.Equal(results[0].IterationsRun, results[1].IterationsRun);
        Assert.Equal(results[0].DeadChannels, results[1].DeadChannels);
    }

    [SkippableFact]
    public void RoundClampEqualsRoundThenIeeeMinMaxOnEveryKindOfValue()
    {
        Skip.IfNot(DashQGroupSolve16.IsSupported, NoAvx512);
        var special = new[]
        {
            0f, -0f, 0.5f, -0.5f, -0.49999997f, 0.49999997f, 1.5f, 2.5f, -1.5f, 1f, 3f, 3.5f, 4f, 255f, 255.5f, 254.5f, 256f, 4194304.5f, 8388607.5f, 8388608f, 16777217f, -8388608.5f, -1e-45f, 1e-45f, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity,
            float.NaN, -float.NaN, BitConverter.Int32BitsToSingle(0x7FC0_1234), BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_4321)),
            BitConverter.Int32BitsToSingle(0x7F80_0001), BitConverter.Int32BitsToSingle(unchecked((int)0xFF80_0F00)), 2.9999998f, 1.0000001f,
        };
        Gen.Select(Gen.Int.Array[16], Gen.Int[0, special.Length - 1].Array[16], Gen.OneOf(1f, 3f, 7f, 15f, 255f)).Sample((bits, picks, maxCode) =>
        {
            var x = new float[16];
            for (int k = 0; k < 16; k++)
            {
                x[k] = (k % 3) switch { 0 => BitConverter.Int32BitsToSingle(bits[k]), 1 => special[picks[k]], _ => (bits[k] % 2000) / 7f - 20 };
            }

            var v = Vector512.Create<float>(x);
            var maxq = Vector512.Create(maxCode);
            var expected = Vector512.Min(Vector512.Max(Vector512.Round(v), Vector512<float>.Zero), maxq);
            var actual = DashQGroupSolve16.RoundClamp(v, maxq);
            Assert.Equal(expected.AsInt32(), actual.AsInt32());
        }, iter: 3000);
    }

    [SkippableFact]
    public void RangeMinMaxEqualIeeeMinMaxOnNumbers()
    {
        Skip.IfNot(DashQGroupSolve16.IsSupported, NoAvx512);
        var special = new[] { 0f, -0f, 1e-45f, -1e-45f, 1f, -1f, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity, 1.17549435E-38f };
        Gen.Select(Gen.Int.Array[32], Gen.Int[0, special.Length - 1].Array[32]).Sample((bits, picks) =>
        {
            var x = new float[32];
            for (int k = 0; k < 32; k++)
            {
                float v = (k % 3) == 0 ? BitConverter.Int32BitsToSingle(bits[k]) : special[picks[k]];
                x[k] = float.IsNaN(v) ? 0.5f : v;
            }

            var a = Vector512.Create<float>(x.AsSpan(0, 16));
            var b = Vector512.Create<float>(x.AsSpan(16, 16));
            Assert.Equal(Vector512.Min(a, b).AsInt32(), DashQGroupSolve16.MinOfNumbers(a, b).AsInt32());
            Assert.Equal(Vector512.Max(a, b).AsInt32(), DashQGroupSolve16.MaxOfNumbers(a, b).AsInt32());
        }, iter: 3000);
    }

    [SkippableFact]
    public void LoadRowsEqualsTheIndexLoop()
    {
        Skip.IfNot(DashQGroupSolve16.IsSupported, NoAvx512);
        Gen.Select(Gen.Int[1, 12], Gen.Int[0, 20], Gen.Int[0, 1000]).Sample((blocks, extra, seed) =>
        {
            int len = blocks * 8, stride = len + extra;
            var source = TestData.Normal((15 * stride) + len, seed);
            var tile = new float[len * 16];
            DashQGroupSolve16.LoadRows(source, stride, len, tile);
            for (int r = 0; r < 16; r++)
            {
                for (int j = 0; j < len; j++)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(source[(r * stride) + j]), BitConverter.SingleToInt32Bits(tile[(j * 16) + r]));
                }
            }
        }, iter: 50);
    }

    [SkippableFact]
    public void FinishPackedEqualsFinishThenScalarWriteBack()
    {
        Skip.IfNot(DashQGroupSolve16.IsSupported, NoAvx512);
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 4], Gen.Int[0, 1000]).Sample((bits, chunks, seed) =>
        {
            int len = chunks * 32, stride = len + 5;
            var solve = new DashQGroupSolve16(new DashQOptions(new QuantizationScheme(bits, null)));
            var tile = TestData.Normal(len * 16, seed);
            var rng = new Random(seed);
            var scale = Vector512.Create(Enumerable.Range(0, 16).Select(_ => (float)(0.05 + rng.NextDouble())).ToArray());
            var zero = Vector512.Create(Enumerable.Range(0, 16).Select(_ => (float)(rng.NextDouble() * (1 << bits))).ToArray());
            var constant = Vector512.Create(Enumerable.Range(0, 16).Select(k => k == seed % 16 ? -1 : 0).ToArray());
            var constantCode = Vector512.Create(1f);

            var expectedTile = new float[len * 16];
            solve.Finish(tile, expectedTile, len, scale, zero, constant, constantCode);
            var packed = new byte[(15 * stride) + len];
            solve.FinishPacked(tile, len, scale, zero, constant, constantCode, packed, stride);
            for (int r = 0; r < 16; r++)
            {
                for (int j = 0; j < len; j++)
                {
                    Assert.Equal((byte)expectedTile[(j * 16) + r], packed[(r * stride) + j]);
                }
            }
        }, iter: 50);
    }

    [Fact]
    public void SixteenLaneHalfRoundingMatchesHalfConversion() =>
        Gen.Int.Array[16].Sample(a =>
        {
            var x = a.Select(BitConverter.Int32BitsToSingle).ToArray();
            x[0] = 65519.99f;
            x[1] = 5.9604645e-8f;
            var r = HalfRounding.Round(Vector512.Create<float>(x));
            var finite = HalfRounding.IsFinite(Vector512.Create<float>(x));
            for (int k = 0; k < 16; k++)
            {
                Assert.Equal(float.IsFinite(x[k]), finite[k] != 0);
                if (float.IsFinite(x[k]))
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits((float)(Half)x[k]), BitConverter.SingleToInt32Bits(r[k]));
                }
                else
                {
                    Assert.False(float.IsFinite(r[k]));
                }
            }
        }, iter: 2000);
}
