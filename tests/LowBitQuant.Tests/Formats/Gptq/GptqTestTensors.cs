namespace LowBitQuant.Tests.Formats.Gptq;

/// <summary>Seeded quantized tensors for the GPTQ tests: random codes, fp16-representable scales, integer zeros.</summary>
internal static class GptqTestTensors
{
    /// <summary>
    /// A tensor with random codes; symmetric grids use z = 2^(b−1), asymmetric ones random z in
    /// [<paramref name="minZero"/>, 2^b − 1]. Scales are fp16 values unless <paramref name="fp16Scales"/> is false.
    /// </summary>
    public static QuantizedTensor Random(
        int bits,
        int rows,
        int columns,
        int? groupSize,
        bool symmetric,
        int seed,
        int minZero = 0,
        int[]? groupIndex = null,
        bool fp16Scales = true)
    {
        var scheme = new QuantizationScheme(bits, groupSize, symmetric);
        var rng = new Random(seed);
        int groups = scheme.GroupCount(columns);
        var codes = new byte[rows * columns];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (byte)rng.Next(scheme.MaxCode + 1);
        }

        var scales = new float[rows * groups];
        var zeros = new float[scales.Length];
        for (int i = 0; i < scales.Length; i++)
        {
            float s = (float)(1e-3 + (rng.NextDouble() * 0.05));
            scales[i] = fp16Scales ? (float)(Half)s : s;
            zeros[i] = symmetric ? scheme.SymmetricZero : rng.Next(minZero, scheme.MaxCode + 1);
        }

        return new QuantizedTensor(scheme, rows, columns, codes, scales, zeros, groupIndex);
    }

    /// <summary>A copy of <paramref name="tensor"/> with zeros replaced.</summary>
    public static QuantizedTensor WithZeros(QuantizedTensor tensor, float[] zeros) =>
        new(tensor.Scheme, tensor.Rows, tensor.Columns, tensor.Codes.ToArray(), tensor.Scales.ToArray(), zeros, tensor.GroupIndex.ToArray(), tensor.InputTransform);

    /// <summary>A copy of <paramref name="tensor"/> with scales replaced.</summary>
    public static QuantizedTensor WithScales(QuantizedTensor tensor, float[] scales) =>
        new(tensor.Scheme, tensor.Rows, tensor.Columns, tensor.Codes.ToArray(), scales, tensor.Zeros.ToArray(), tensor.GroupIndex.ToArray(), tensor.InputTransform);
}
