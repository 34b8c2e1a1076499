namespace LowBitQuant.Tests.TestUtilities;

/// <summary>
/// A plain, token-by-token, float64 Llama forward pass written from the equations of docs/formats/llama2c.md §2
/// (with RoPE pairs chosen by convention), to check the SIMD, batched, multi-threaded runtime against.
/// </summary>
public static class ReferenceLlama
{
    public static double[] MatVec(float[] w, int rows, int cols, double[] x)
    {
        var y = new double[rows];
        for (int o = 0; o < rows; o++)
        {
            double s = 0;
            for (int i = 0; i < cols; i++)
            {
                s += (double)w[(o * cols) + i] * x[i];
            }

            y[o] = s;
        }

        return y;
    }

    public static double[] RmsNorm(double[] x, float[] gamma, double eps)
    {
        double ms = 0;
        foreach (double v in x)
        {
            ms += v * v;
        }

        ms /= x.Length;
        double inv = 1.0 / Math.Sqrt(ms + eps);
        return x.Select((v, j) => gamma[j] * v * inv).ToArray();
    }

    /// <summary>Rotates each head of <paramref name="v"/> at position <paramref name="pos"/>.</summary>
    public static void Rope(double[] v, int headDim, int pos, double theta, RopeConvention convention)
    {
        int half = headDim / 2;
        for (int h = 0; h < v.Length / headDim; h++)
        {
            for (int p = 0; p < half; p++)
            {
                double angle = pos * Math.Pow(theta, -2.0 * p / headDim);
                int a = h * headDim + (convention == RopeConvention.AdjacentPairs ? 2 * p : p);
                int b = h * headDim + (convention == RopeConvention.AdjacentPairs ? 2 * p + 1 : p + half);
                double va = v[a], vb = v[b];
                v[a] = va * Math.Cos(angle) - vb * Math.Sin(angle);
                v[b] = va * Math.Sin(angle) + vb * Math.Cos(angle);
            }
        }
    }

    /// <summary>Logits at every position, tokens × vocab.</summary>
    public static double[] Forward(ILlamaWeightSource source, int[] tokens)
    {
        LlamaConfig c = source.Config;
        float[] Read(LlamaTensor t, int l = 0)
        {
            (int r, int cc) = c.GetShape(t);
            var d = new float[r * cc];
            source.ReadTensor(t, l, d);
            return d;
        }

        float[] emb = Read(LlamaTensor.TokenEmbedding);
        int hd = c.HeadDim;
        var keys = new List<double[]>[c.Layers];
        var values = new List<double[]>[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            keys[l] = [];
            values[l] = [];
        }

        var logits = new double[tokens.Length * c.VocabSize];
        for (int pos = 0; pos < tokens.Length; pos++)
        {
            double[] x = Enumerable.Range(0, c.Dim).Select(j => (double)emb[(tokens[pos] * c.Dim) + j]).ToArray();
            for (int l = 0; l < c.Layers; l++)
            {
                double[] xb = RmsNorm(x, Read(LlamaTensor.AttentionNorm, l), c.NormEpsilon);
                double[] q = MatVec(Read(LlamaTensor.QueryProjection, l), c.QueryDim, c.Dim, xb);
                double[] k = MatVec(Read(LlamaTensor.KeyProjection, l), c.KvDim, c.Dim, xb);
                double[] v = MatVec(Read(LlamaTensor.ValueProjection, l), c.KvDim, c.Dim, xb);
                Rope(q, hd, pos, c.RopeTheta, c.RopeConvention);
                Rope(k, hd, pos, c.RopeTheta, c.RopeConvention);
                keys[l].Add(k);
                values[l].Add(v);
                var att = new double[c.QueryDim];
                for (int h = 0; h < c.Heads; h++)
                {
                    int kvh = h / (c.Heads / c.KvHeads);
                    var scores = new double[pos + 1];
                    for (int t = 0; t <= pos; t++)
                    {
                        double s = 0;
                        for (int i = 0; i < hd; i++)
                        {
                            s += q[(h * hd) + i] * keys[l][t][(kvh * hd) + i];
                        }

                        scores[t] = s / Math.Sqrt(hd);
                    }

                    double max = scores.Max();
                    double sum = scores.Sum(s => Math.Exp(s - max));
                    for (int t = 0; t <= pos; t++)
                    {
                        double pr = Math.Exp(scores[t] - max) / sum;
                        for (int i = 0; i < hd; i++)
                        {
                            att[(h * hd) + i] += pr * values[l][t][(kvh * hd) + i];
                        }
                    }
                }

                double[] o = MatVec(Read(LlamaTensor.OutputProjection, l), c.Dim, c.QueryDim, att);
                for (int j = 0; j < c.Dim; j++)
                {
                    x[j] += o[j];
                }

                xb = RmsNorm(x, Read(LlamaTensor.FeedForwardNorm, l), c.NormEpsilon);
                double[] g = MatVec(Read(LlamaTensor.GateProjection, l), c.HiddenDim, c.Dim, xb);
                double[] u = MatVec(Read(LlamaTensor.UpProjection, l), c.HiddenDim, c.Dim, xb);
                for (int i = 0; i < g.Length; i++)
                {
                    g[i] = g[i] / (1 + Math.Exp(-g[i])) * u[i];
                }

                double[] down = MatVec(Read(LlamaTensor.DownProjection, l), c.Dim, c.HiddenDim, g);
                for (int j = 0; j < c.Dim; j++)
                {
                    x[j] += down[j];
                }
            }

            double[] xf = RmsNorm(x, Read(LlamaTensor.FinalNorm), c.NormEpsilon);
            double[] lg = MatVec(c.TiedEmbeddings ? emb : Read(LlamaTensor.OutputHead), c.VocabSize, c.Dim, xf);
            lg.CopyTo(logits, pos * c.VocabSize);
        }

        return logits;
    }
}
