using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Hessian;

public class HessianDiagnosticsTests
{
    [Fact]
    public void StabilityImprovesWithMoreSequencesAndEndsAtZero()
    {
        const int n = 12, seqLen = 32, sequences = 16;
        var x = ReferenceHessian.Activations(seqLen * sequences, n, seed: 8);
        var report = HessianDiagnostics.Analyze(new DenseMatrix(x, seqLen * sequences, n), seqLen);
        Assert.Equal(sequences, report.Sequences);
        Assert.Equal([1, 2, 4, 8, 16], report.Stability.Select(p => p.Sequences));
        Assert.Equal(0, report.Stability[^1].DiagonalRelativeL1Error);
        Assert.True(report.Stability[0].DiagonalRelativeL1Error > report.Stability[3].DiagonalRelativeL1Error);
        Assert.True(report.Stability[0].OffDiagonalRelativeL1Error > report.Stability[3].OffDiagonalRelativeL1Error);

        // First point checked against the float64 reference: H_1 from the first sequence vs H from all.
        var h1 = ReferenceHessian.Gram(x.AsSpan(0, seqLen * n), n);
        var h = ReferenceHessian.Gram(x, n);
        double err = 0, norm = 0;
        for (int j = 0; j < n; j++)
        {
            err += Math.Abs((h1[(j * n) + j] / seqLen) - (h[(j * n) + j] / x.Length * n));
            norm += h[(j * n) + j] / x.Length * n;
        }

        Assert.Equal(err / norm, report.Stability[0].DiagonalRelativeL1Error, 5);
    }

    [Fact]
    public void DeadChannelsAndSnrOrderingAreMeasured()
    {
        // Independent zero-mean channels: diagonal entries are stable (high SNR), cross terms are noise (SNR ≪ 1).
        const int n = 10, seqLen = 64, sequences = 8;
        var rng = new Random(3);
        var x = new float[seqLen * sequences * n];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = i % n is 3 or 7 ? 0f : (float)((rng.NextDouble() * 2) - 1);
        }

        var report = HessianDiagnostics.Analyze(new DenseMatrix(x, seqLen * sequences, n), seqLen);
        Assert.Equal(2, report.DeadChannels);
        Assert.True(report.DiagonalSnr.Median > 3, $"diagonal SNR median {report.DiagonalSnr.Median}");
        Assert.True(report.OffDiagonalSnr.Median < 1, $"off-diagonal SNR median {report.OffDiagonalSnr.Median}");
        Assert.Equal(n, report.DiagonalSnr.Entries);
        Assert.Equal(n * (n - 1) / 2, report.OffDiagonalSnr.Entries);
        Assert.True(double.IsPositiveInfinity(report.ConditionEstimate)); // dead channels make H singular
    }

    [Fact]
    public void EigenvalueRangeMatchesAKnownSpectrum()
    {
        // H = Q·diag(5, 2, 0.5)·Qᵀ with Q a rotation: λ_max = 5, λ_min = 0.5, condition 10.
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        double[,] q = { { c, -s, 0 }, { s, c, 0 }, { 0, 0, 1 } };
        double[] l = [5, 2, 0.5];
        var h = new double[9];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                for (int k = 0; k < 3; k++)
                {
                    h[(i * 3) + j] += q[i, k] * l[k] * q[j, k];
                }
            }
        }

        var (largest, smallest) = HessianDiagnostics.EigenvalueRange(h, 3);
        Assert.Equal(5, largest, 6);
        Assert.Equal(0.5, smallest, 5);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(64)]
    public void BadSequenceLengthIsRejected(int sequenceLength)
    {
        var x = new float[64 * 2];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => HessianDiagnostics.Analyze(new DenseMatrix(x, 64, 2), sequenceLength));
        Assert.Equal("sequenceLength", ex.ParamName);
    }
}
