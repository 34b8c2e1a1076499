using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Tests.TestUtilities;

namespace LowBitQuant.Tests.Hessian;

public sealed class HessianEstimateFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-hessian-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(HessianKind.Full)]
    [InlineData(HessianKind.Diagonal)]
    public void SaveLoadRoundTripsExactly(HessianKind kind)
    {
        using var h = HessianEstimator.Create(kind, 13);
        h.Accumulate(ReferenceHessian.Activations(30, 13, seed: 1));
        var estimate = h.Build();
        string path = Path.Combine(_dir, "h.safetensors");
        HessianEstimateFile.Save(estimate, path);
        var loaded = HessianEstimateFile.Load(path);
        Assert.Equal(estimate.Kind, loaded.Kind);
        Assert.Equal(estimate.Size, loaded.Size);
        Assert.Equal(estimate.SampleCount, loaded.SampleCount);
        Assert.Equal(estimate.Diagonal.ToArray(), loaded.Diagonal.ToArray());
        Assert.Equal(estimate.Matrix.ToArray(), loaded.Matrix.ToArray());
    }

    [Fact]
    public void FilesWhoseTensorsDoNotFormAnEstimateAreRejected()
    {
        void Write(string name, Dictionary<string, string> meta, Action<SafetensorsWriter> add)
        {
            using var w = SafetensorsWriter.Create(Path.Combine(_dir, name), meta);
            add(w);
            w.Save();
        }

        var ok = new Dictionary<string, string> { ["content"] = HessianEstimateFile.FormatName, ["kind"] = "Full", ["sample_count"] = "5" };
        Write("nomarker.safetensors", new() { ["kind"] = "Full" }, w => w.AddSingle("diagonal", [1], [1f]));
        Write("nomatrix.safetensors", ok, w => w.AddSingle("diagonal", [2], [1f, 1f]));
        Write("asym.safetensors", ok, w =>
        {
            w.AddSingle("diagonal", [2], [1f, 1f]);
            w.AddSingle("matrix", [2, 2], [1f, 0.5f, 0.2f, 1f]);
        });
        Write("mismatch.safetensors", ok, w =>
        {
            w.AddSingle("diagonal", [2], [1f, 2f]);
            w.AddSingle("matrix", [2, 2], [1f, 0.5f, 0.5f, 1f]);
        });
        Write("negative.safetensors", new() { ["content"] = HessianEstimateFile.FormatName, ["kind"] = "Diagonal", ["sample_count"] = "5" }, w => w.AddSingle("diagonal", [2], [1f, -1f]));
        Write("count.safetensors", new() { ["content"] = HessianEstimateFile.FormatName, ["kind"] = "Diagonal", ["sample_count"] = "0" }, w => w.AddSingle("diagonal", [1], [1f]));
        foreach (var (file, words) in new[] { ("nomarker", "content"), ("nomatrix", "matrix"), ("asym", "symmetric"), ("mismatch", "differs"), ("negative", "negative"), ("count", "sample_count") })
        {
            var ex = Assert.Throws<InvalidDataException>(() => HessianEstimateFile.Load(Path.Combine(_dir, file + ".safetensors")));
            Assert.Contains(words, ex.Message);
            Assert.Contains(file, ex.Message);
        }
    }
}
