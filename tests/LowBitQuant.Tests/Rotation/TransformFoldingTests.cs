using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Rotation;

public class TransformFoldingTests
{
    private static float[] MatVec(DenseMatrix w, float[] x)
    {
        var y = new float[w.Rows];
        for (int r = 0; r < w.Rows; r++)
        {
            double s = 0;
            for (int j = 0; j < w.Columns; j++)
            {
                s += w.GetRow(r)[j] * (double)x[j];
            }

            y[r] = (float)s;
        }

        return y;
    }

    private static float[] RmsNorm(float[] x, float[] gamma)
    {
        double ms = x.Average(v => (double)v * v);
        float inv = (float)(1 / Math.Sqrt(ms + 1e-6));
        return x.Select((v, i) => v * inv * gamma[i]).ToArray();
    }

    private static DenseMatrix Random(int rows, int columns, int seed) => new(TestData.Normal(rows * columns, seed), rows, columns);

    private static float Silu(float v) => v / (1 + MathF.Exp(-v));

    private static float[] Mlp(DenseMatrix gate, DenseMatrix up, DenseMatrix down, float[] x)
    {
        var g = MatVec(gate, x);
        var u = MatVec(up, x);
        return MatVec(down, g.Select((v, i) => Silu(v) * u[i]).ToArray());
    }

    private static void AssertClose(float[] expected, float[] actual, double tol)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], tol * (1 + Math.Abs(expected[i])));
        }
    }

    [Fact]
    public void Scales_folded_into_the_norm_and_into_up_rows_keep_outputs()
    {
        const int Hidden = 12, Ffn = 24;
        var x = TestData.Normal(Hidden, 1);
        var gamma = TestData.Uniform(Hidden, 2).Select(v => 1 + (0.5f * v)).ToArray();
        var w = Random(8, Hidden, 3);
        var expected = MatVec(w, RmsNorm(x, gamma));

        var d = TestData.Uniform(Hidden, 4).Select(MathF.Exp).ToArray();
        var t = new InputTransform(d, null);
        var wt = w.Clone();
        t.TransformWeights(wt.Data.Span); // W·D
        TransformFolding.FoldScalesIntoNorm(gamma, t);
        AssertClose(expected, MatVec(wt, RmsNorm(x, gamma)), 1e-4);

        var (gate, up, down) = (Random(Ffn, Hidden, 5), Random(Ffn, Hidden, 6), Random(Hidden, Ffn, 7));
        var before = Mlp(gate, up, down, x);
        var dd = new InputTransform(TestData.Uniform(Ffn, 8).Select(MathF.Exp).ToArray(), null);
        dd.TransformWeights(down.Data.Span);
        TransformFolding.FoldScalesIntoUpProjection(up, dd);
        AssertClose(before, Mlp(gate, up, down, x), 1e-4);
    }

    [Fact]
    public void A_rotation_across_the_gated_product_is_refused_and_would_change_outputs()
    {
        const int Hidden = 8, Ffn = 16;
        var (gate, up, down) = (Random(Ffn, Hidden, 1), Random(Ffn, Hidden, 2), Random(Hidden, Ffn, 3));
        var t = new InputTransform([], HadamardRotation.Create(Ffn, 1));
        var ex = Assert.Throws<ArgumentException>(() => TransformFolding.FoldScalesIntoUpProjection(up, t));
        Assert.Equal("transform", ex.ParamName);
        Assert.Contains("silu", ex.Message);

        // What the refusal prevents: folding it anyway (as if linear) changes the block output by far more than rounding.
        var x = TestData.Normal(Hidden, 4);
        var before = Mlp(gate, up, down, x);
        t.TransformWeights(down.Data.Span);
        TransformFolding.FoldIntoPrecedingLinear(up, t);
        var after = Mlp(gate, up, down, x);
        Assert.True(before.Zip(after).Max(p => Math.Abs(p.First - p.Second)) > 0.1);
    }

    [Fact]
    public void A_full_transform_folds_into_a_directly_preceding_linear()
    {
        const int N = 12;
        var p = Random(N, 10, 1);
        var w = Random(6, N, 2);
        var x = TestData.Normal(10, 3);
        var expected = MatVec(w, MatVec(p, x));
        var t = new InputTransform(TestData.Uniform(N, 4).Select(MathF.Exp).ToArray(), HadamardRotation.Create(N, 2), TransformOrder.RotateThenScale);
        t.TransformWeights(w.Data.Span);
        TransformFolding.FoldIntoPrecedingLinear(p, t);
        AssertClose(expected, MatVec(w, MatVec(p, x)), 1e-4);
    }

    [Fact]
    public void Residual_rotation_folded_into_embeddings_writers_and_readers_keeps_logits()
    {
        const int Vocab = 10, Hidden = 12, Inner = 20;
        var emb = Random(Vocab, Hidden, 1);
        var gamma1 = TestData.Uniform(Hidden, 2).Select(v => 1 + (0.3f * v)).ToArray();
        var gammaF = TestData.Uniform(Hidden, 3).Select(v => 1 + (0.3f * v)).ToArray();
        var reader = Random(Inner, Hidden, 4);
        var writer = Random(Hidden, Inner, 5);
        var head = Random(Vocab, Hidden, 6);

        float[] Forward(int token)
        {
            var h = emb.GetRow(token).ToArray();
            var a = MatVec(reader, RmsNorm(h, gamma1)).Select(MathF.Tanh).ToArray();
            var o = MatVec(writer, a);
            for (int i = 0; i < Hidden; i++)
            {
                h[i] += o[i];
            }

            return MatVec(head, RmsNorm(h, gammaF));
        }

        var expected = Enumerable.Range(0, Vocab).Select(Forward).ToArray();
        var r = HadamardRotation.Create(Hidden, 9);
        TransformFolding.FoldNormIntoReaders(gamma1, reader);
        TransformFolding.FoldNormIntoReaders(gammaF, head);
        TransformFolding.RotateEmbeddings(emb, r);
        TransformFolding.RotateResidualReader(reader, r);
        TransformFolding.RotateResidualWriter(writer, r);
        TransformFolding.RotateResidualReader(head, r);
        for (int tok = 0; tok < Vocab; tok++)
        {
            AssertClose(expected[tok], Forward(tok), 1e-4);
        }

        Assert.All(gamma1, g => Assert.Equal(1f, g));
    }

    [Fact]
    public void Mismatched_sizes_are_rejected()
    {
        var t = new InputTransform(new float[] { 1, 2, 3, 4 }, null);
        Assert.Equal("normWeight", Assert.Throws<ArgumentException>(() => TransformFolding.FoldScalesIntoNorm(new float[5], t)).ParamName);
        Assert.Equal("preceding", Assert.Throws<ArgumentException>(() => TransformFolding.FoldIntoPrecedingLinear(Random(5, 3, 1), t)).ParamName);
        var r = HadamardRotation.Create(4, 1);
        Assert.Equal("embeddings", Assert.Throws<ArgumentException>(() => TransformFolding.RotateEmbeddings(Random(3, 8, 1), r)).ParamName);
        Assert.Equal("writer", Assert.Throws<ArgumentException>(() => TransformFolding.RotateResidualWriter(Random(8, 4, 1), r)).ParamName);
        Assert.Equal("reader", Assert.Throws<ArgumentException>(() => TransformFolding.RotateResidualReader(Random(4, 8, 1), r)).ParamName);
        Assert.Throws<ArgumentException>(() => TransformFolding.FoldScalesIntoNorm(new float[4], new InputTransform([], r)));
    }
}
