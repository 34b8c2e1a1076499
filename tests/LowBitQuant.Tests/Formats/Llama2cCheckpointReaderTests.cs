using System.Buffers.Binary;
using LowBitQuant.Formats;
using LowBitQuant.Formats.Llama2c;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats;

public class Llama2cCheckpointReaderTests
{
    [SkippableFact]
    public void ReadsStories260KHeaderAndTensors()
    {
        string path = SharedData.Require("models/stories260K/stories260K.bin");
        using var reader = Llama2cCheckpointReader.Open(path);
        LlamaConfig c = reader.Config;
        Assert.Equal((64, 172, 5, 8, 4, 512, 512), (c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.MaxSequenceLength));
        Assert.True(c.TiedEmbeddings);
        Assert.Equal(RopeConvention.AdjacentPairs, c.RopeConvention);

        // The final norm sits right after w3 of the last layer: check it against the raw bytes.
        byte[] bytes = File.ReadAllBytes(path);
        long offset = 28 + 4L * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 5 * 32 * 64 + 5 * 64 * 64 + 5 * 64 + 3 * 5 * 172 * 64);
        var norm = new float[64];
        reader.ReadTensor(LlamaTensor.FinalNorm, 0, norm);
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)offset + (4 * i))), norm[i]);
        }

        var wk = new float[32 * 64];
        reader.ReadTensor(LlamaTensor.KeyProjection, 3, wk);
        long wkOffset = 28 + 4L * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 3 * 32 * 64);
        Assert.Equal(BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)wkOffset)), wk[0]);
        Assert.Equal("tensor", Assert.Throws<ArgumentException>(() => reader.ReadTensor(LlamaTensor.OutputHead, 0, new float[512 * 64])).ParamName);
        Assert.Equal("layer", Assert.Throws<ArgumentOutOfRangeException>(() => reader.ReadTensor(LlamaTensor.KeyProjection, 5, wk)).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => reader.ReadTensor(LlamaTensor.KeyProjection, 0, new float[3])).ParamName);
    }

    [SkippableFact]
    public void RejectsWrongSizeMagicAndBadHeader()
    {
        byte[] bytes = File.ReadAllBytes(SharedData.Require("models/stories260K/stories260K.bin"));
        string dir = Directory.CreateTempSubdirectory("lbq-l2c").FullName;
        try
        {
            string p = Path.Combine(dir, "m.bin");
            File.WriteAllBytes(p, bytes[..^4]);
            var size = Assert.Throws<InvalidCheckpointException>(() => Llama2cCheckpointReader.Open(p));
            Assert.Contains("1056540 bytes", size.Message);
            Assert.Contains("1056536", size.Message);

            byte[] magic = bytes.ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(magic, Llama2cCheckpointReader.NewFormatMagic);
            File.WriteAllBytes(p, magic);
            Assert.Contains("ak42", Assert.Throws<InvalidCheckpointException>(() => Llama2cCheckpointReader.Open(p)).Message);

            byte[] badKv = bytes.ToArray();
            BinaryPrimitives.WriteInt32LittleEndian(badKv.AsSpan(16), 3);
            File.WriteAllBytes(p, badKv);
            Assert.Contains("n_kv_heads", Assert.Throws<InvalidCheckpointException>(() => Llama2cCheckpointReader.Open(p)).Message);

            byte[] zeroLayers = bytes.ToArray();
            BinaryPrimitives.WriteInt32LittleEndian(zeroLayers.AsSpan(8), 0);
            File.WriteAllBytes(p, zeroLayers);
            Assert.Contains("n_layers", Assert.Throws<InvalidCheckpointException>(() => Llama2cCheckpointReader.Open(p)).Message);

            File.WriteAllBytes(p, bytes[..10]);
            Assert.Throws<InvalidCheckpointException>(() => Llama2cCheckpointReader.Open(p));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
