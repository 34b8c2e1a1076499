using System.Buffers;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Formats.Safetensors;

/// <summary>Caller mistakes, resource handling and atomic saves of the reader and writer; the real checkpoint.</summary>
public sealed class SafetensorsApiTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void OpenMissingFileThrowsFileNotFoundNamingIt()
    {
        string path = _temp.File("absent.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafetensorsReader.Open(path));
        Assert.Equal(path, ex.FileName);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReaderErrorsNameTensorFileAndDType()
    {
        string path = WriteSample();
        using var reader = SafetensorsReader.Open(path);

        var missing = Assert.Throws<KeyNotFoundException>(() => reader.GetTensorBytes("no.such.tensor"));
        Assert.Contains("'no.such.tensor'", missing.Message, StringComparison.Ordinal);
        Assert.Contains(path, missing.Message, StringComparison.Ordinal);
        Assert.Throws<KeyNotFoundException>(() => reader.ReadAsSingle("no.such.tensor"));
        Assert.Throws<ArgumentNullException>(() => reader.GetTensorBytes(null!));

        var notFloat = Assert.Throws<NotSupportedException>(() => reader.ReadAsSingle("ints"));
        Assert.Contains("'ints'", notFloat.Message, StringComparison.Ordinal);
        Assert.Contains("I32", notFloat.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => reader.ReadAsSingle("ints", new float[4]));

        var wrongType = Assert.Throws<InvalidOperationException>(() => reader.Read<int>("floats"));
        Assert.Contains("'floats'", wrongType.Message, StringComparison.Ordinal);
        Assert.Contains("F32", wrongType.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => reader.Read<decimal>("floats"));

        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => reader.ReadAsSingle("floats", new float[5])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => reader.Read<int>("ints", new int[3])).ParamName);
    }

    [Fact]
    public void TensorsEnumerateInFileOrder()
    {
        string path = WriteSample();
        using var reader = SafetensorsReader.Open(path);
        long previous = -1;
        foreach (SafetensorsTensorInfo info in reader.Tensors.Values)
        {
            Assert.True(info.DataBegin >= previous);
            previous = info.DataBegin;
        }

        Assert.Equal(["floats", "ints", "bytes"], reader.Tensors.Keys);
    }

    [Fact]
    public void DisposeIsIdempotentAndBlocksFurtherReads()
    {
        string path = WriteSample();
        var reader = SafetensorsReader.Open(path);
        Assert.Equal(6, reader.ReadAsSingle("floats").Length);
        reader.Dispose();
        reader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => reader.GetTensorBytes("floats"));

        // The mapping is released: the file can be replaced.
        File.Delete(path);
        Assert.Empty(_temp.Entries());
    }

    [Fact]
    public void WriterRejectsBadNamesNamingTheParameter()
    {
        using var writer = SafetensorsWriter.Create(_temp.File());
        writer.AddSingle("taken", [1], [1f]);
        Assert.Throws<ArgumentNullException>(() => writer.AddSingle(null!, [1], [1f]));
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => writer.AddSingle("", [1], [1f])).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => writer.AddSingle("__metadata__", [1], [1f])).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => writer.AddSingle("bad\ud800", [1], [1f])).ParamName);
        var duplicate = Assert.Throws<ArgumentException>(() => writer.AddInt32("taken", [1], [1]));
        Assert.Equal("name", duplicate.ParamName);
        Assert.Contains("'taken'", duplicate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WriterRejectsSizesThatDoNotMatch()
    {
        using var writer = SafetensorsWriter.Create(_temp.File());
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddSingle("neg", [-1], [])).ParamName);
        Assert.Equal("dtype", Assert.Throws<ArgumentOutOfRangeException>(() => writer.Add("d", (SafetensorsDType)99, [1], new byte[1])).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => writer.Add("short", SafetensorsDType.F32, [2, 2], new byte[15])).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => writer.AddSingle("few", [2, 2], new float[3])).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => writer.AddInt8("many", [2], new sbyte[3])).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => writer.Add("big", SafetensorsDType.U8, [long.MaxValue, 2], new byte[1])).ParamName);

        // An F4 tensor with an odd element count is half a byte short: misaligned.
        var odd = Assert.Throws<ArgumentException>(() => writer.Add("f4", SafetensorsDType.F4, [3], new byte[2]));
        Assert.Equal("shape", odd.ParamName);
        Assert.Contains("whole number of bytes", odd.Message, StringComparison.Ordinal);
        writer.Add("f4", SafetensorsDType.F4, [4], new byte[2]); // the even count is fine
    }

    [Fact]
    public void WriterRejectsBadMetadata()
    {
        Assert.Equal("metadata", Assert.Throws<ArgumentException>(() =>
            SafetensorsWriter.Create(_temp.File(), new Dictionary<string, string> { ["format"] = "gguf" })).ParamName);
        Assert.Equal("metadata", Assert.Throws<ArgumentException>(() =>
            SafetensorsWriter.Create(_temp.File(), new Dictionary<string, string> { ["k"] = null! })).ParamName);
        Assert.Equal("metadata", Assert.Throws<ArgumentException>(() =>
            SafetensorsWriter.Create(_temp.File(), new Dictionary<string, string> { ["k"] = "\udc00" })).ParamName);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Create(""));
    }

    [Fact]
    public void WriterRefusesOversizedHeader()
    {
        using var writer = SafetensorsWriter.Create(_temp.File());
        Assert.Equal(100_000_000, writer.MaxHeaderLength);
        writer.MaxHeaderLength = 64;
        writer.AddSingle(new string('x', 64), [1], [1f]);
        var ex = Assert.Throws<InvalidOperationException>(() => writer.Save());
        Assert.Contains(_temp.File(), ex.Message, StringComparison.Ordinal);
        Assert.Empty(_temp.Entries());
    }

    [Fact]
    public void DisposedWriterRefusesWork()
    {
        var writer = SafetensorsWriter.Create(_temp.File());
        writer.Dispose();
        writer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.AddSingle("a", [1], [1f]));
        Assert.Throws<ObjectDisposedException>(() => writer.Save());
        Assert.Empty(_temp.Entries());
    }

    [Fact]
    public void CancelledSaveLeavesNoFileAndNoTemporary()
    {
        using var writer = SafetensorsWriter.Create(_temp.File());
        writer.AddSingle("a", [4], [1f, 2f, 3f, 4f]);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => writer.Save(cts.Token));
        Assert.Empty(_temp.Entries());

        writer.Save(); // the same writer can still save afterwards
        Assert.Equal(["model.safetensors"], _temp.Entries());
    }

    [Fact]
    public void CancellationMidWayLeavesThePreviousFileAndNoTemporary()
    {
        string path = _temp.File();
        File.WriteAllBytes(path, [1, 2, 3]);
        using var cts = new CancellationTokenSource();
        string[]? during = null;
        using var trap = new CancellingMemory(new byte[4096], () =>
        {
            during = _temp.Entries();
            cts.Cancel();
        });

        using var writer = SafetensorsWriter.Create(path);
        writer.Add("first", SafetensorsDType.F64, [512], new byte[4096]); // written before the trap (sorted by alignment)
        writer.Add("second", SafetensorsDType.U8, [4096], trap.Memory);
        Assert.ThrowsAny<OperationCanceledException>(() => writer.Save(cts.Token));

        Assert.NotNull(during);
        Assert.Equal(2, during!.Length); // a temporary file was being written beside the target
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], _temp.Entries());
    }

    [Fact]
    public void SaveIntoMissingFolderFailsAndCreatesNothing()
    {
        using var writer = SafetensorsWriter.Create(Path.Combine(_temp.Path, "missing", "model.safetensors"));
        writer.AddSingle("a", [1], [1f]);
        Assert.Throws<DirectoryNotFoundException>(() => writer.Save());
        Assert.Empty(_temp.Entries());
    }

    [SkippableFact]
    public void ReadsTheStories260KCheckpoint()
    {
        string path = SharedData.Require("models/stories260K-hf/model.safetensors");
        using var reader = SafetensorsReader.Open(path);

        Assert.Equal("pt", reader.Metadata["format"]);
        Assert.Equal(2 + (5 * 9), reader.Tensors.Count); // embedding, final norm, 9 per layer × 5 layers; tied classifier
        Assert.All(reader.Tensors.Values, t => Assert.Equal(SafetensorsDType.F32, t.DType));
        Assert.Equal(260_032, reader.Tensors.Values.Sum(t => t.ElementCount));
        Assert.Equal([512L, 64], reader.Tensors["model.embed_tokens.weight"].Shape.ToArray());
        Assert.Equal([64L, 172], reader.Tensors["model.layers.0.mlp.down_proj.weight"].Shape.ToArray());
        Assert.Equal([172L, 64], reader.Tensors["model.layers.4.mlp.gate_proj.weight"].Shape.ToArray());
        Assert.Equal([32L, 64], reader.Tensors["model.layers.2.self_attn.k_proj.weight"].Shape.ToArray());
        Assert.Equal([64L, 64], reader.Tensors["model.layers.3.self_attn.q_proj.weight"].Shape.ToArray());
        Assert.Equal([64L], reader.Tensors["model.norm.weight"].Shape.ToArray());
        Assert.False(reader.Tensors.ContainsKey("lm_head.weight"));

        float[] embedding = reader.ReadAsSingle("model.embed_tokens.weight");
        Assert.All(embedding, x => Assert.True(float.IsFinite(x)));
        double mean = embedding.Average(x => (double)x);
        double std = Math.Sqrt(embedding.Average(x => (x - mean) * (x - mean)));
        Assert.InRange(std, 1e-3, 10); // trained weights: neither constant nor exploding
        Assert.All(reader.ReadAsSingle("model.norm.weight"), x => Assert.True(x > 0)); // RMSNorm gains
    }

    [SkippableFact]
    public void RewritingTheStories260KCheckpointIsByteIdentical()
    {
        string source = SharedData.Require("models/stories260K-hf/model.safetensors");
        string copy = _temp.File();
        using (var reader = SafetensorsReader.Open(source))
        using (var writer = SafetensorsWriter.Create(copy, reader.Metadata))
        {
            foreach (SafetensorsTensorInfo t in reader.Tensors.Values)
            {
                writer.Add(t.Name, t.DType, t.Shape.AsSpan(), reader.GetTensorBytes(t.Name).ToArray());
            }

            writer.Save();
        }

        // The checkpoint was written by the reference implementation: same order, compact JSON and padding.
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(copy));
    }

    private string WriteSample()
    {
        string path = _temp.File();
        using var writer = SafetensorsWriter.Create(path);
        writer.AddSingle("floats", [2, 3], [1, 2, 3, 4, 5, 6]);
        writer.AddInt32("ints", [4], [1, 2, 3, 4]);
        writer.AddUInt8("bytes", [2], [7, 8]);
        writer.Save();
        return path;
    }

    /// <summary>Memory that runs an action when the writer asks for its bytes (to cancel a save mid-way).</summary>
    private sealed class CancellingMemory(byte[] bytes, Action onAccess) : MemoryManager<byte>
    {
        private int _calls;

        public override Span<byte> GetSpan()
        {
            // The first call comes from the Memory property itself, while the test builds the writer's input.
            if (++_calls == 2)
            {
                onAccess();
            }

            return bytes;
        }

        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
