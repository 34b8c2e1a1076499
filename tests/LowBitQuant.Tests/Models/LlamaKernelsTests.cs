using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Models;

public class LlamaKernelsTests
{
    private static float[] RandomArray(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 7, 3)]
    [InlineData(3, 9, 5)]
    [InlineData(4, 8, 4)]
    [InlineData(5, 17, 65)]
    [InlineData(17, 64, 172)]
    [InlineData(33, 129, 70)]
    [InlineData(70, 256, 130)]
    public void MatMulTransposedMatchesNaive(int tokens, int inDim, int outDim)
    {
        var rng = new Random(tokens * 1000 + inDim * 10 + outDim);
        float[] x = RandomArray(rng, tokens * inDim);
        float[] w = RandomArray(rng, outDim * inDim);
        var y = new float[tokens * outDim];
        LlamaKernels.MatMulTransposed(x, tokens, inDim, w, outDim, y);
        for (int t = 0; t < tokens; t++)
        {
            double[] expected = ReferenceLlama.MatVec(w, outDim, inDim, x.Skip(t * inDim).Take(inDim).Select(v => (double)v).ToArray());
            for (int o = 0; o < outDim; o++)
            {
                Assert.Equal(expected[o], y[(t * outDim) + o], 1e-4 * Math.Sqrt(inDim));
            }
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(2, 64)]
    [InlineData(5, 173)]
    public void RmsNormMatchesDefinition(int rows, int width)
    {
        var rng = new Random(rows + width);
        float[] x = RandomArray(rng, rows * width);
        float[] gamma = RandomArray(rng, width);
        var dest = new float[rows * width];
        LlamaKernels.RmsNorm(x, rows, width, gamma, 1e-5f, dest);
        for (int r = 0; r < rows; r++)
        {
            double[] expected = ReferenceLlama.RmsNorm(x.Skip(r * width).Take(width).Select(v => (double)v).ToArray(), gamma, 1e-5);
            for (int j = 0; j < width; j++)
            {
                Assert.Equal(expected[j], dest[(r * width) + j], 1e-5);
            }
        }
    }

    [Theory]
    [InlineData(RopeConvention.AdjacentPairs, 8, 3)]
    [InlineData(RopeConvention.HalfRotation, 8, 3)]
    [InlineData(RopeConvention.AdjacentPairs, 2, 1)]
    [InlineData(RopeConvention.HalfRotation, 16, 2)]
    public void RopeMatchesDefinitionForEachConvention(RopeConvention convention, int headDim, int heads)
    {
        var rng = new Random(headDim * heads);
        const int Tokens = 11;
        int width = heads * headDim;
        float[] rows = RandomArray(rng, Tokens * width);
        float[] original = rows.ToArray();
        int[] positions = Enumerable.Range(0, Tokens).Select(i => (i * 37) % 50).ToArray();
        (float[] cos, float[] sin) = LlamaKernels.RopeTables(64, headDim, 10000.0);
        LlamaKernels.ApplyRope(rows, Tokens, heads, headDim, positions, cos, sin, convention);
        for (int t = 0; t < Tokens; t++)
        {
            double[] expected = original.Skip(t * width).Take(width).Select(v => (double)v).ToArray();
            ReferenceLlama.Rope(expected, headDim, positions[t], 10000.0, convention);
            for (int j = 0; j < width; j++)
            {
                Assert.Equal(expected[j], rows[(t * width) + j], 1e-4);
            }
        }
    }

    [Fact]
    public void RopeConventionsAgreeUnderThePairPermutation()
    {
        // Within a head, adjacent-pair channel 2i+j corresponds to half-rotation channel j·hd/2 + i (docs/formats/llama2c.md §3).
        const int HeadDim = 8, Heads = 2, Tokens = 5;
        var rng = new Random(7);
        float[] adjacent = RandomArray(rng, Tokens * Heads * HeadDim);
        var half = new float[adjacent.Length];
        for (int t = 0; t < Tokens; t++)
        {
            for (int h = 0; h < Heads; h++)
            {
                for (int i = 0; i < HeadDim / 2; i++)
                {
                    for (int j = 0; j < 2; j++)
                    {
                        half[(t * Heads * HeadDim) + (h * HeadDim) + (j * HeadDim / 2) + i] = adjacent[(t * Heads * HeadDim) + (h * HeadDim) + (2 * i) + j];
                    }
                }
            }
        }

        int[] positions = [0, 1, 2, 9, 30];
        (float[] cos, float[] sin) = LlamaKernels.RopeTables(32, HeadDim, 10000.0);
        LlamaKernels.ApplyRope(adjacent, Tokens, Heads, HeadDim, positions, cos, sin, RopeConvention.AdjacentPairs);
        LlamaKernels.ApplyRope(half, Tokens, Heads, HeadDim, positions, cos, sin, RopeConvention.HalfRotation);
        for (int t = 0; t < Tokens; t++)
        {
            for (int h = 0; h < Heads; h++)
            {
                for (int i = 0; i < HeadDim / 2; i++)
                {
                    for (int j = 0; j < 2; j++)
                    {
                        Assert.Equal(adjacent[(t * Heads * HeadDim) + (h * HeadDim) + (2 * i) + j], half[(t * Heads * HeadDim) + (h * HeadDim) + (j * HeadDim / 2) + i]);
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(4, 4, 4)]
    [InlineData(8, 2, 8)]
    [InlineData(6, 1, 2)]
    [InlineData(3, 3, 6)]
    [InlineData(4, 2, 128)]
    [InlineData(2, 1, 1)]
    public void AttentionMatchesNaiveCausalGqa(int heads, int kvHeads, int headDim)
    {
        var rng = new Random(heads * 100 + kvHeads * 10 + headDim);
        int[] lengths = [5, 1, 9, 41];
        int[] starts = [0, 5, 6, 15];
        int total = 56;
        float[] q = RandomArray(rng, total * heads * headDim);
        float[] k = RandomArray(rng, total * kvHeads * headDim);
        float[] v = RandomArray(rng, total * kvHeads * headDim);
        var output = new float[q.Length];
        LlamaKernels.Attention(q, k, v, starts, lengths, heads, kvHeads, headDim, output);
        int group = heads / kvHeads;
        for (int s = 0; s < lengths.Length; s++)
        {
            for (int i = 0; i < lengths[s]; i++)
            {
                for (int h = 0; h < heads; h++)
                {
                    int kvh = h / group;
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            dot += q[((starts[s] + i) * heads * headDim) + (h * headDim) + d] * (double)k[((starts[s] + j) * kvHeads * headDim) + (kvh * headDim) + d];
                        }

                        scores[j] = dot / Math.Sqrt(headDim);
                    }

                    double max = scores.Max();
                    double sum = scores.Sum(x => Math.Exp(x - max));
                    for (int d = 0; d < headDim; d++)
                    {
                        double expected = 0;
                        for (int j = 0; j <= i; j++)
                        {
                            expected += Math.Exp(scores[j] - max) / sum * v[((starts[s] + j) * kvHeads * headDim) + (kvh * headDim) + d];
                        }

                        Assert.Equal(expected, output[((starts[s] + i) * heads * headDim) + (h * headDim) + d], 1e-5);
                    }
                }
            }
        }
    }

    [Fact]
    public void SwiGluMatchesDefinition()
    {
        float[] gate = [-20f, -1f, 0f, 0.5f, 3f, 30f];
        float[] up = [2f, 3f, 4f, -1f, 0.5f, 1f];
        float[] expected = gate.Select((a, i) => (float)(a / (1 + Math.Exp(-a)) * up[i])).ToArray();
        LlamaKernels.SwiGlu(gate, up);
        for (int i = 0; i < gate.Length; i++)
        {
            Assert.Equal(expected[i], gate[i], 1e-5f);
        }
    }
}
