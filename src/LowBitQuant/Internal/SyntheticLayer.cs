namespace LowBitQuant.Internal;

/// <summary>
/// A seeded, LLM-like linear layer for demos, tests and benchmarks: heavy-tailed weights, correlated activations
/// (a low-rank factor plus noise) and a few outlier input channels, as observed in real transformer layers.
/// </summary>
internal sealed class SyntheticLayer
{
    private SyntheticLayer(DenseMatrix weights, DenseMatrix activations, HessianEstimate hessian)
    {
        Weights = weights;
        Activations = activations;
        Hessian = hessian;
    }

    /// <summary>W, rows × columns.</summary>
    public DenseMatrix Weights { get; }

    /// <summary>X, tokens × columns.</summary>
    public DenseMatrix Activations { get; }

    /// <summary>H = XᵀX / tokens (full).</summary>
    public HessianEstimate Hessian { get; }

    /// <summary>Builds a layer. Outlier channels (1 in 64, at least one) have 10–30× the typical activation scale.</summary>
    public static SyntheticLayer Create(int rows, int columns, int tokens, int seed, int rank = 16)
    {
        var rng = new Random(seed);
        var w = new float[rows * columns];
        for (int i = 0; i < w.Length; i++)
        {
            // Normal scaled by a log-normal factor: heavy tails like trained weights.
            w[i] = (float)(0.02 * Normal(rng) * Math.Exp(0.5 * Normal(rng)));
        }

        var channelScale = new double[columns];
        for (int j = 0; j < columns; j++)
        {
            channelScale[j] = Math.Exp(0.3 * Normal(rng));
        }

        for (int k = 0; k < Math.Max(1, columns / 64); k++)
        {
            channelScale[rng.Next(columns)] *= 10 + (20 * rng.NextDouble());
        }

        var mix = new double[rank * columns];
        for (int i = 0; i < mix.Length; i++)
        {
            mix[i] = Normal(rng) / Math.Sqrt(rank);
        }

        var x = new float[tokens * columns];
        var z = new double[rank];
        for (int t = 0; t < tokens; t++)
        {
            for (int k = 0; k < rank; k++)
            {
                z[k] = Normal(rng);
            }

            for (int j = 0; j < columns; j++)
            {
                double v = 0.5 * Normal(rng);
                for (int k = 0; k < rank; k++)
                {
                    v += z[k] * mix[(k * columns) + j];
                }

                x[(t * columns) + j] = (float)(v * channelScale[j]);
            }
        }

        var activations = new DenseMatrix(x, tokens, columns);
        return new SyntheticLayer(new DenseMatrix(w, rows, columns), activations, HessianEstimator.Estimate(HessianKind.Full, activations));
    }

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
