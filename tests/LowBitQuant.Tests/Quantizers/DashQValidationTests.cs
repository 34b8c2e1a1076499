namespace LowBitQuant.Tests.Quantizers;

/// <summary>Bad input to DASH-Q: each error names the argument and the rule broken.</summary>
public class DashQValidationTests
{
    private static readonly DashQQuantizer Quantizer = new(new DashQOptions(new QuantizationScheme(2, 4)));

    [Fact]
    public void DiagonalOfTheWrongLengthIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Quantizer.Quantize(new DenseMatrix(new float[16], 2, 8), HessianEstimate.FromDiagonal(new float[7], 1)));
        Assert.Equal("hessian", ex.ParamName);
        Assert.Contains("7", ex.Message);
        Assert.Contains("8", ex.Message);
    }

    [Fact]
    public void MissingHessianIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Quantizer.Quantize(new DenseMatrix(new float[16], 2, 8), null));
        Assert.Equal("hessian", ex.ParamName);
        Assert.Contains("diagonal Hessian", ex.Message);
    }

    [Fact]
    public void NegativeOrNaNDiagonalCannotBeBuilt()
    {
        var nan = Assert.Throws<ArgumentException>(() => HessianEstimate.FromDiagonal([1f, float.NaN], 1));
        Assert.Equal("diagonal", nan.ParamName);
        Assert.Contains("[1]", nan.Message);
        var negative = Assert.Throws<ArgumentException>(() => HessianEstimate.FromDiagonal([1f, -2f], 1));
        Assert.Contains("negative", negative.Message);
    }

    [Fact]
    public void FullHessianWithANegativeDiagonalEntryIsRejected()
    {
        var h = new float[16];
        h[0] = h[5] = h[15] = 1;
        h[10] = -0.5f;
        var ex = Assert.Throws<ArgumentException>(() => Quantizer.Quantize(new DenseMatrix(new float[8], 2, 4), HessianEstimate.FromMatrix(h, 4, 1)));
        Assert.Equal("hessian", ex.ParamName);
        Assert.Contains("[2]", ex.Message);
        Assert.Contains("negative", ex.Message);
    }

    [Fact]
    public void TinyNegativeNoiseOfAFullHessianCountsAsADeadChannel()
    {
        var h = new float[16];
        h[0] = h[5] = h[15] = 1;
        h[10] = -1e-9f;
        var q = Quantizer.Quantize(new DenseMatrix(new float[] { 1, 2, 3, 4, -1, 0, 1, 2 }, 2, 4), HessianEstimate.FromMatrix(h, 4, 1));
        Assert.Contains(q.Diagnostics.Notes, n => n.StartsWith("1 dead", StringComparison.Ordinal));
    }

    [Fact]
    public void NonFiniteWeightsAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Quantizer.Quantize(new DenseMatrix(new[] { 1f, float.PositiveInfinity, 0, 0 }, 1, 4), HessianEstimate.FromDiagonal([1f, 1, 1, 1], 1)));
        Assert.Equal("weights", ex.ParamName);
    }

    [Fact]
    public void SymmetricSchemeIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new DashQOptions(new QuantizationScheme(4, 32, symmetric: true)));
        Assert.Equal("scheme", ex.ParamName);
    }

    [Theory]
    [InlineData(nameof(DashQOptions.Iterations), -1)]
    [InlineData(nameof(DashQOptions.Damping), 0.0)]
    [InlineData(nameof(DashQOptions.Damping), 1.5)]
    [InlineData(nameof(DashQOptions.Damping), double.NaN)]
    [InlineData(nameof(DashQOptions.Ridge), -1e-3)]
    [InlineData(nameof(DashQOptions.Ridge), double.PositiveInfinity)]
    [InlineData(nameof(DashQOptions.RangeCandidates), -2)]
    [InlineData(nameof(DashQOptions.RangeCandidateStep), 0.0)]
    public void OutOfRangeOptionsAreRejected(string name, object value)
    {
        var scheme = new QuantizationScheme(2, 32);
        Action create = name switch
        {
            nameof(DashQOptions.Iterations) => () => _ = new DashQOptions(scheme) { Iterations = (int)value },
            nameof(DashQOptions.Damping) => () => _ = new DashQOptions(scheme) { Damping = (double)value },
            nameof(DashQOptions.Ridge) => () => _ = new DashQOptions(scheme) { Ridge = (double)value },
            nameof(DashQOptions.RangeCandidates) => () => _ = new DashQOptions(scheme) { RangeCandidates = (int)value },
            _ => () => _ = new DashQOptions(scheme) { RangeCandidateStep = (double)value },
        };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(name, ex.ParamName);
    }

    [Fact]
    public void CancellationIsHonoured()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Quantizer.Quantize(new DenseMatrix(new float[64], 8, 8), HessianEstimate.FromDiagonal(new float[8], 1), null, cts.Token));
    }
}
