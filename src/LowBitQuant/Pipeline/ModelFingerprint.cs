using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace LowBitQuant;

/// <summary>SHA-256 over a model's configuration and every weight, read tensor by tensor through its source.</summary>
internal static class ModelFingerprint
{
    public static string Compute(ILlamaWeightSource source)
    {
        var c = source.Config;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(c.ToString()));
        foreach (var tensor in Enum.GetValues<LlamaTensor>())
        {
            if (tensor == LlamaTensor.OutputHead && c.TiedEmbeddings)
            {
                continue;
            }

            int layers = LlamaConfig.IsPerLayer(tensor) ? c.Layers : 1;
            var (rows, columns) = c.GetShape(tensor);
            var buffer = new float[rows * columns];
            for (int layer = 0; layer < layers; layer++)
            {
                source.ReadTensor(tensor, layer, buffer);
                hash.AppendData(MemoryMarshal.AsBytes(buffer.AsSpan()));
            }
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }
}
