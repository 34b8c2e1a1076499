using System.Text.Json;
using LowBitQuant.Formats.Gptq;
using LowBitQuant.Formats.Safetensors;
using LowBitQuant.Internal;

namespace LowBitQuant.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lbq-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteCase(int rows, int columns, int tokens, string calibration = "inputs", Action<SafetensorsWriter>? extra = null)
    {
        var layer = SyntheticLayer.Create(rows, columns, tokens, seed: 1);
        string path = Path.Combine(_dir, $"case-{rows}x{columns}-{calibration}.safetensors");
        using var w = SafetensorsWriter.Create(path);
        w.AddSingle("weight", [rows, columns], layer.Weights.Data.Span);
        switch (calibration)
        {
            case "inputs":
                w.AddSingle("inputs", [tokens, columns], layer.Activations.Data.Span);
                break;
            case "hessian":
                w.AddSingle("hessian", [columns, columns], layer.Hessian.Matrix.Span);
                break;
            case "hessian_diag":
                w.AddSingle("hessian_diag", [columns], layer.Hessian.Diagonal.Span);
                break;
        }

        extra?.Invoke(w);
        w.Save();
        return path;
    }

    [Fact]
    public void QuantizeLayerWritesAGptqCheckpointWhoseWeightIsWhatWasPacked()
    {
        string input = WriteCase(64, 128, 256);
        string output = Path.Combine(_dir, "out.safetensors");
        var r = CliRunner.Run("quantize-layer", "--in", input, "--out", output, "--method", "rtn", "--bits", "4", "--group-size", "32", "--sym", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var reader = SafetensorsReader.Open(output);
        Assert.Equal("gptq", reader.Metadata["checkpoint_format"]);
        Assert.Equal("rtn", reader.Metadata["method"]);
        Assert.True(double.Parse(reader.Metadata["proxy_loss"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(new long[] { 128 * 4 / 32, 64 }, reader.Tensors["qweight"].Shape.ToArray());
        Assert.Equal(new long[] { 4, 64 * 4 / 32 }, reader.Tensors["qzeros"].Shape.ToArray());
        Assert.All(reader.Read<int>("qzeros"), z => Assert.Equal(0x77777777, z));

        var layer = new GptqPackedLayer(4, 32, symmetric: true, GptqZeroConvention.V1, 128, 64,
            reader.Read<int>("qweight"), reader.Read<int>("qzeros"), reader.Read<Half>("scales"), reader.Read<int>("g_idx"));
        Assert.Equal(layer.Dequantize().Data.ToArray(), reader.ReadAsSingle("weight"));
        var summary = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("rtn", summary.GetProperty("method").GetString());
    }

    [Fact]
    public void AsymmetricResultWithAZeroOfZeroIsLabelledV2()
    {
        string input = WriteCase(32, 64, 64, "hessian_diag");
        string output = Path.Combine(_dir, "v2.safetensors");
        var r = CliRunner.Run("quantize-layer", "--in", input, "--out", output, "--method", "rtn", "--bits", "3", "--format", "gptq-v2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var reader = SafetensorsReader.Open(output);
        Assert.Equal("gptq_v2", reader.Metadata["checkpoint_format"]);
        Assert.Equal("diagonal", reader.Metadata["hessian"]);
    }

    [Fact]
    public void DashQWritesThePackedFormatWithRealZeros()
    {
        string input = WriteCase(32, 128, 256);
        string output = Path.Combine(_dir, "dashq.safetensors");
        var r = CliRunner.Run("quantize-layer", "--in", input, "--out", output, "--method", "dashq", "--bits", "2", "--group-size", "32", "--format", "dashq");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var reader = SafetensorsReader.Open(output);
        Assert.Equal("dashq-packed-linear", reader.Metadata["checkpoint_format"]);
        Assert.Equal(new long[] { 32 * 128 / 16 }, reader.Tensors["W_q_packed"].Shape.ToArray());
        Assert.Equal(new long[] { 32 * 4, 1 }, reader.Tensors["scale"].Shape.ToArray());
        var entry = LowBitQuant.Formats.DashQ.DashQPackedReader.ParseConfig(reader.Metadata["dashq_config"])["layer"];
        var unpacked = LowBitQuant.Formats.DashQ.DashQPackedReader.Unpack(entry, reader.Read<int>("W_q_packed"), reader.ReadAsSingle("scale"), reader.ReadAsSingle("zero"));
        Assert.Equal(unpacked.Dequantize().Data.ToArray(), reader.ReadAsSingle("weight"));

        var rtn = CliRunner.Run("quantize-layer", "--in", input, "--out", Path.Combine(_dir, "rtn.safetensors"), "--method", "rtn", "--bits", "2", "--group-size", "32", "--json");
        double Loss(string json) => JsonDocument.Parse(json).RootElement.GetProperty("proxy_loss").GetString() is string v ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : double.NaN;
        using var dq = SafetensorsReader.Open(output);
        Assert.True(double.Parse(dq.Metadata["proxy_loss"], System.Globalization.CultureInfo.InvariantCulture) < Loss(rtn.Stdout));
    }

    [Fact]
    public void DashQFitsIntegerZerosWhenAskedForAGptqCheckpointAndSearchLowersItsLoss()
    {
        string input = WriteCase(32, 128, 256);
        double Loss(string output, params string[] extra)
        {
            var r = CliRunner.Run([.. new[] { "quantize-layer", "--in", input, "--out", output, "--method", "dashq", "--bits", "2", "--group-size", "32" }, .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var reader = SafetensorsReader.Open(output);
            return double.Parse(reader.Metadata["proxy_loss"], System.Globalization.CultureInfo.InvariantCulture);
        }

        string gptq = Path.Combine(_dir, "dashq-gptq.safetensors");
        Loss(gptq, "--format", "gptq");
        using (var reader = SafetensorsReader.Open(gptq))
        {
            Assert.Contains(reader.Metadata["checkpoint_format"], new[] { "gptq", "gptq_v2" });
            Assert.Equal("dashq", reader.Metadata["method"]);
        }

        double plain = Loss(Path.Combine(_dir, "dq-plain.safetensors"), "--format", "dashq");
        double searched = Loss(Path.Combine(_dir, "dq-search.safetensors"), "--format", "dashq", "--search");
        Assert.True(searched <= plain, $"search {searched} > plain {plain}");
    }

    [Fact]
    public void DemoPrintsEveryImplementedMethodAtTwoThreeAndFourBits()
    {
        var r = CliRunner.Run("demo", "--rows", "32", "--columns", "64", "--tokens", "128", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var rows = JsonDocument.Parse(r.Stdout).RootElement.EnumerateArray().ToArray();
        Assert.Contains(rows, e => e.GetProperty("method").GetString() == "rtn" && e.GetProperty("bits").GetInt32() == 2);
        foreach (string method in LowBitQuant.Cli.QuantizerFactory.Methods)
        {
            Assert.Equal(3, rows.Count(e => e.GetProperty("method").GetString() == method));
        }
        double Loss(int bits) => rows.Single(e => e.GetProperty("method").GetString() == "rtn" && e.GetProperty("bits").GetInt32() == bits).GetProperty("proxy_loss").GetDouble();
        Assert.True(Loss(2) > Loss(3) && Loss(3) > Loss(4));
    }

    [Fact]
    public void InspectListsTensorsAndMetadataAsJson()
    {
        string input = WriteCase(8, 32, 16);
        var r = CliRunner.Run("inspect", input, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("pt", doc.GetProperty("metadata").GetProperty("format").GetString());
        var names = doc.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToArray();
        Assert.Equal(["inputs", "weight"], names.Order());
    }

    [Fact]
    public void MissingFileIsOneLineAndNonZero()
    {
        string line = CliRunner.AssertOneLineError(CliRunner.Run("inspect", Path.Combine(_dir, "nope.safetensors")));
        Assert.Contains("nope.safetensors", line);
    }

    [Fact]
    public void MalformedFileIsOneLineAndNonZero()
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        string line = CliRunner.AssertOneLineError(CliRunner.Run("inspect", path));
        Assert.Contains("bad.safetensors", line);
    }

    [Theory]
    [InlineData("--bits", "9", "bits")]
    [InlineData("--group-size", "-4", "group-size")]
    [InlineData("--method", "awq", "awq")]
    [InlineData("--format", "gguf", "gguf")]
    public void BadOptionsAreOneLineErrors(string option, string value, string mentioned)
    {
        string input = WriteCase(32, 64, 64);
        var args = new List<string> { "quantize-layer", "--in", input, "--out", Path.Combine(_dir, "x.safetensors"), "--method", "rtn", "--bits", "4" };
        int at = args.IndexOf(option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        string line = CliRunner.AssertOneLineError(CliRunner.Run([.. args]));
        Assert.Contains(mentioned, line);
        Assert.False(File.Exists(Path.Combine(_dir, "x.safetensors")));
    }

    [Fact]
    public void ShapesTheGptqFormatCannotHoldAreRefusedWithTheReason()
    {
        string input = WriteCase(32, 172, 64, "hessian_diag");
        string line = CliRunner.AssertOneLineError(CliRunner.Run("quantize-layer", "--in", input, "--out", Path.Combine(_dir, "y.safetensors"), "--method", "rtn", "--bits", "4", "--group-size", "0"));
        Assert.Contains("172", line);
    }

    [Fact]
    public void MismatchedCalibrationIsRefusedNamingBothTensors()
    {
        string path = Path.Combine(_dir, "mismatch.safetensors");
        using (var w = SafetensorsWriter.Create(path))
        {
            w.AddSingle("weight", [4, 32], new float[128]);
            w.AddSingle("hessian_diag", [31], new float[31]);
            w.Save();
        }

        string line = CliRunner.AssertOneLineError(CliRunner.Run("quantize-layer", "--in", path, "--out", Path.Combine(_dir, "z.safetensors"), "--method", "rtn", "--bits", "4"));
        Assert.Contains("hessian_diag", line);
        Assert.Contains("weight", line);
    }

    [Fact]
    public void NaNWeightsAreRefusedNamingTheIndex()
    {
        string path = Path.Combine(_dir, "nan.safetensors");
        var w0 = new float[4 * 32];
        w0[37] = float.NaN;
        using (var w = SafetensorsWriter.Create(path))
        {
            w.AddSingle("weight", [4, 32], w0);
            w.AddSingle("hessian_diag", [32], Enumerable.Repeat(1f, 32).ToArray());
            w.Save();
        }

        string line = CliRunner.AssertOneLineError(CliRunner.Run("quantize-layer", "--in", path, "--out", Path.Combine(_dir, "n.safetensors"), "--method", "rtn", "--bits", "4"));
        Assert.Contains("[1, 5]", line);
    }

}
