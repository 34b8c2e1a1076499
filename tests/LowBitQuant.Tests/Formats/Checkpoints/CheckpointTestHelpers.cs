using LowBitQuant.Formats.Checkpoints;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats.Checkpoints;

/// <summary>Shared pieces of the checkpoint tests: the real model, quantizing every linear in memory, and comparisons.</summary>
internal static class CheckpointTestHelpers
{
    public static string HfFolder => SharedData.Require("models/stories260K-hf");

    public static string Llama2cFile => SharedData.Require("models/stories260K/stories260K.bin");

    public static string Tokenizer => SharedData.Require("models/stories260K/tok512.bin");

    public static int[] Tokens { get; } = [1, 410, 300, 280, 77, 499, 3, 260, 261, 300, 1, 2, 45, 88, 123, 7];

    public static IEnumerable<(string Name, LlamaTensor Tensor, int Layer)> Linears(LlamaConfig config)
    {
        for (int layer = 0; layer < config.Layers; layer++)
        {
            foreach (LlamaTensor t in LlamaConfig.LinearTensors)
            {
                yield return (config.GetModuleName(t, layer), t, layer);
            }
        }
    }

    public static float[] Read(ILlamaWeightSource source, LlamaTensor tensor, int layer)
    {
        (int rows, int columns) = source.Config.GetShape(tensor);
        var data = new float[rows * columns];
        source.ReadTensor(tensor, layer, data);
        return data;
    }

    /// <summary>Quantizes every linear of <paramref name="source"/> (in its own row order).</summary>
    public static Dictionary<string, QuantizedTensor> QuantizeAll(ILlamaWeightSource source, IQuantizer quantizer)
    {
        var result = new Dictionary<string, QuantizedTensor>(StringComparer.Ordinal);
        foreach (var (name, t, layer) in Linears(source.Config))
        {
            (int rows, int columns) = source.Config.GetShape(t);
            var w = new DenseMatrix(Read(source, t, layer), rows, columns);
            HessianEstimate? h = quantizer.RequiredHessian == HessianKind.None ? null : HessianEstimate.FromDiagonal(Enumerable.Repeat(1f, columns).ToArray(), 1);
            result[name] = quantizer.Quantize(w, h);
        }

        return result;
    }

    public static IQuantizer Rtn(int bits, int? groupSize) => new RtnQuantizer(new QuantizationScheme(bits, groupSize));

    public static IQuantizer DashQ(int bits, int? groupSize) => new DashQQuantizer(new DashQOptions(new QuantizationScheme(bits, groupSize)) { Iterations = 3 });

    /// <summary>Logits of a model on <paramref name="source"/> with the given modules replaced.</summary>
    public static float[] Logits(ILlamaWeightSource source, IReadOnlyDictionary<string, DenseMatrix> replaced)
    {
        using var model = new LlamaModel(source);
        foreach (var (name, w) in replaced)
        {
            model.ReplaceLinearWeights(name, w);
        }

        return model.Forward(Tokens);
    }

    public static void AssertBitwiseEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}.");
            }
        }
    }

    /// <summary>No entry of <paramref name="parent"/> other than those listed.</summary>
    public static void AssertOnlyEntries(string parent, params string[] names) =>
        Assert.Equal(names.Order(StringComparer.Ordinal), Directory.EnumerateFileSystemEntries(parent).Select(Path.GetFileName).Order(StringComparer.Ordinal));
}
